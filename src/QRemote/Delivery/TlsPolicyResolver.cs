using QRemote.Dns;
using QRemote.Qmail;
using QRemote.Tls;

namespace QRemote.Delivery;

/// <summary>
/// Decides how each exchanger is spoken to, in this order (docs/tls.md):
/// <list type="number">
/// <item>the operator's files of qmail's TLS patch: <c>control/notlshosts/HOST</c> (off), <c>control/tlshosts/HOST.pem</c>
/// (verified against that CA);</item>
/// <item>DANE (RFC 7672), when the route to the exchanger is DNSSEC-secure (the MX answer, or none for a relay,
/// and the exchanger's addresses) and its TLSA records are: required, checked against TLSA;</item>
/// <item>MTA-STS (RFC 8461), for MX deliveries to a domain with a policy: <c>enforce</c> requires an exchanger
/// among the policy's patterns and a WebPKI-verified certificate; <c>testing</c> is only logged;</item>
/// <item>opportunistic STARTTLS (RFC 7435).</item>
/// </list>
/// A message with <c>TLS-Required: No</c> (RFC 8689 5) turns DANE and MTA-STS into opportunistic TLS; the
/// operator's own files still apply. A message under REQUIRETLS (<c>Require-TLS-ESMTP: yes</c> with
/// <c>control/qremote-requiretls</c>) is never waived so: RFC 8689 4 has REQUIRETLS win, and the caller passes
/// <paramref name="tlsRequiredNo"/> false for it; it goes only to exchangers <see cref="QualifiesForRequireTls"/> says.
/// <para>An smtproutes route with credentials never ends opportunistic: the password goes only to a relay whose
/// certificate was verified (<see cref="ForCredentials"/>).</para>
/// </summary>
/// <param name="credentials">The smtproutes or authsenders route when it carries AUTH credentials (else null or a route without them).</param>
/// <param name="trustBundle">The PEM bundle of system trust roots for credential routes; null: <see cref="SystemTrust.BundlePath"/>
/// (SSL_CERT_FILE as the process found it, else Debian's bundle).</param>
internal sealed class TlsPolicyResolver(string? controlDirectory, MailRouteResolver resolver, RouteKind route, bool tlsRequiredNo, StsRequirement? sts,
    SmtpRoute? credentials = null, string? trustBundle = null)
{
    /// <summary>The control file listing relays that may get smtproutes credentials over unverified TLS, one a line.</summary>
    public const string AuthUnverifiedFile = "qremote-auth-unverified";

    /// <summary>RFC 8689 4.2.1: a message under REQUIRETLS goes only over TLS whose certificate is verified, to a server
    /// found securely: DANE (secure MX and TLSA), MTA-STS enforce (the exchanger in the HTTPS-fetched policy), or the
    /// operator's own word for that host (control/tlshosts, or an smtproutes relay with credentials verified against the
    /// system roots). Opportunistic TLS, MTA-STS testing, notlshosts, and DANE with no usable TLSA record do not
    /// qualify.</summary>
    public static bool QualifiesForRequireTls(TlsPolicy policy) => policy.Authenticates;

    public async Task<TlsPolicy> ForAsync(Destination destination, CancellationToken cancellationToken)
    {
        var policy = await DecideAsync(destination, cancellationToken).ConfigureAwait(false);
        return credentials is { User: not null, Password: not null } ? ForCredentials(policy, destination, credentials.Source) : policy;
    }

    /// <summary>
    /// A route with credentials needs a verified peer: whoever completes the handshake gets the password, so an
    /// opportunistic policy (which accepts any certificate, a man in the middle's self-signed one too) is replaced:
    /// <list type="number">
    /// <item>control/tlshosts/RELAY.pem, DANE (the relay's secure TLSA records, one of them usable) and MTA-STS are
    /// verified already and stand; notlshosts stands too (the transaction never sends credentials without TLS);</item>
    /// <item>DANE whose TLSA records are all unusable verifies nothing: it is treated as opportunistic here;</item>
    /// <item>a relay listed in control/qremote-auth-unverified keeps opportunistic TLS: the operator's explicit opt-out;</item>
    /// <item>else TLS is required and the certificate must chain to the system trust roots and name the relay;</item>
    /// <item>with no trust roots to read, the relay is not used (a deferral, #4.7.5).</item>
    /// </list>
    /// </summary>
    private TlsPolicy ForCredentials(TlsPolicy policy, Destination destination, string source)
    {
        if (policy.Mode != TlsMode.Opportunistic && (policy.Mode != TlsMode.Dane || policy.Authenticates))
        {
            return policy;
        }

        var relay = destination.ExchangerName.TrimEnd('.');
        if (controlDirectory is not null)
        {
            IReadOnlyList<string> unverified;
            try
            {
                unverified = new ControlFiles(controlDirectory).ReadLines(AuthUnverifiedFile);
            }
            catch (ControlFileException e)
            {
                // Unreadable: the opt-out cannot be known, so it is not assumed; and nothing is sent on a guess.
                return new TlsPolicy(TlsMode.Unusable, null, $"{source} credentials for {relay}: {e.Message}");
            }

            if (unverified.Any(l => string.Equals(l.Trim().TrimEnd('.'), relay, StringComparison.OrdinalIgnoreCase)))
            {
                return policy with { Why = $"{policy.Why}; credentials over unverified TLS allowed by control/{AuthUnverifiedFile}" };
            }
        }

        var bundle = trustBundle ?? SystemTrust.BundlePath;
        return File.Exists(bundle)
            ? new TlsPolicy(TlsMode.Verified, bundle, $"the system trust roots in {bundle} ({source} credentials)")
            : new TlsPolicy(TlsMode.Unusable, null,
                $"{source} credentials for {relay} need a verified relay: no control/tlshosts/{relay.ToLowerInvariant()}.pem, no secure TLSA records, no trust roots at {bundle}");
    }

    private async Task<TlsPolicy> DecideAsync(Destination destination, CancellationToken cancellationToken)
    {
        var local = TlsPolicy.For(controlDirectory, destination.ExchangerName);
        if (local.Mode != TlsMode.Opportunistic)
        {
            return local;
        }

        var daneEligible = route.ByMx ? destination.MxSecure && destination.AddressSecure
            : route == RouteKind.Smtproutes && destination.AddressSecure;
        if (daneEligible)
        {
            // RFC 7672 2.2.2: an exchanger that is a secure alias has its TLSA records looked for at the alias's target
            // first, then at its own name; the certificate may name either.
            var target = await resolver.SecureAliasTargetAsync(destination.ExchangerName, cancellationToken).ConfigureAwait(false);
            var names = target is null ? new[] { destination.ExchangerName } : [target, destination.ExchangerName];
            var tlsa = await resolver.TlsaAsync(names[0], destination.Port, cancellationToken).ConfigureAwait(false);
            if (tlsa.Status == TlsaStatus.None && names.Length > 1)
            {
                tlsa = await resolver.TlsaAsync(names[1], destination.Port, cancellationToken).ConfigureAwait(false);
                // The records came from the alias's own name: that is the TLSA base domain now, so it goes first (SNI).
                names = [names[1], names[0]];
            }

            if (tlsa.Status != TlsaStatus.None && tlsRequiredNo)
            {
                return local with { Why = $"DANE waived by TLS-Required: No ({tlsa.Detail})" };
            }

            if (tlsa.Status == TlsaStatus.Failed)
            {
                return new TlsPolicy(TlsMode.Unusable, null, $"DANE: {tlsa.Detail}") { Report = new(TlsReportPolicyType.Tlsa, [], TlsReportResult.DnssecInvalid) };
            }

            if (tlsa.Status == TlsaStatus.Secure)
            {
                return new TlsPolicy(TlsMode.Dane, null, $"DANE: {tlsa.Detail}") { Tlsa = tlsa.Records, DaneNames = names, Report = new(TlsReportPolicyType.Tlsa, tlsa.Records.Select(r => r.ToString()).ToList()) };
            }
        }

        if (sts is not null && route == RouteKind.Mx)
        {
            if (!sts.Enforce)
            {
                return local with { Why = $"opportunistic; MTA-STS testing ({sts.Why})" + (sts.MatchesMx(destination.ExchangerName) ? "" : ": MX not in the policy") };
            }

            if (tlsRequiredNo)
            {
                return local with { Why = $"MTA-STS waived by TLS-Required: No ({sts.Why})" };
            }

            return sts.MatchesMx(destination.ExchangerName)
                ? new TlsPolicy(TlsMode.MtaSts, null, $"MTA-STS {sts.Why}") { Roots = sts.Roots, Report = new(TlsReportPolicyType.Sts, sts.PolicyLines) }
                : new TlsPolicy(TlsMode.Unusable, null, $"MTA-STS {sts.Why}: {destination.ExchangerName} is not in the policy's mx list")
                {
                    Report = new(TlsReportPolicyType.Sts, sts.PolicyLines, TlsReportResult.ValidationFailure),
                };
        }

        return local;
    }
}
