using System.Security.Cryptography.X509Certificates;
using QRemote.Dns;
using QRemote.Qmail;

namespace QRemote.Delivery;

/// <summary>An MTA-STS policy in force for the recipient domain, as the TLS policy needs it.</summary>
/// <param name="Enforce">enforce (else testing: only logged).</param>
/// <param name="MatchesMx">Whether an exchanger name is one of the policy's <c>mx</c> patterns.</param>
/// <param name="Why">For reports and the log: the domain, the mode, the policy id.</param>
/// <param name="Roots">The WebPKI roots a certificate must chain to.</param>
public sealed record StsRequirement(bool Enforce, Func<string, bool> MatchesMx, string Why, X509Certificate2Collection Roots);

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
/// operator's own files still apply.
/// </summary>
public sealed class TlsPolicyResolver(string? controlDirectory, MailRouteResolver resolver, string route, bool tlsRequiredNo, StsRequirement? sts)
{
    public async Task<TlsPolicy> ForAsync(Destination destination, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var local = TlsPolicy.For(controlDirectory, destination.ExchangerName);
        if (local.Mode != TlsMode.Opportunistic)
        {
            return local;
        }

        var daneEligible = route switch
        {
            "MX" or "implicit MX" => destination.MxSecure && destination.AddressSecure,
            "smtproutes" => destination.AddressSecure,
            _ => false,
        };
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
                return new TlsPolicy(TlsMode.Unusable, null, $"DANE: {tlsa.Detail}");
            }

            if (tlsa.Status == TlsaStatus.Secure)
            {
                return new TlsPolicy(TlsMode.Dane, null, $"DANE: {tlsa.Detail}") { Tlsa = tlsa.Records, DaneNames = names };
            }
        }

        if (sts is not null && route == "MX")
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
                ? new TlsPolicy(TlsMode.MtaSts, null, $"MTA-STS {sts.Why}") { Roots = sts.Roots }
                : new TlsPolicy(TlsMode.Unusable, null, $"MTA-STS {sts.Why}: {destination.ExchangerName} is not in the policy's mx list");
        }

        return local;
    }
}
