using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MailKit.Net.Smtp;
using QRemote.Tls;

namespace QRemote.Smtp;

/// <summary>
/// MailKit's SmtpClient for the connection, greeting, EHLO/HELO, STARTTLS and AUTH, with QRemote's TLS
/// policy hooks (what verifies a certificate, the cipher list, no system trust store). The transaction
/// itself (MAIL, RCPT, DATA or BDAT) is <see cref="PipelinedSender"/>'s: MailKit's SendAsync waits for
/// the MAIL and RCPT replies before DATA (a round trip per delivery), and re-encodes messages unless
/// worked around.
/// </summary>
internal sealed class QRemoteSmtpClient : SmtpClient
{

    /// <summary>Set for verified TLS (control/tlshosts): the CA certificates the server's must chain to.</summary>
    public X509Certificate2Collection? TrustedRoots { get; private set; }

    /// <summary>Why verification failed, when it did.</summary>
    public string? VerificationFailure { get; private set; }

    /// <summary>The TLS reporting result (RFC 8460 4.3) of the last certificate check, decided in the check; null when no
    /// policy checked one (opportunistic TLS).</summary>
    public TlsReportResult? VerificationResult { get; private set; }

    /// <summary>Verified TLS: the chain must end at one of <paramref name="roots"/> and the certificate must name the host.</summary>
    public void RequireVerified(X509Certificate2Collection roots)
    {
        TrustedRoots = roots;
        ServerCertificateValidationCallback = (_, _, chain, errors) =>
        {
            VerificationFailure = errors == SslPolicyErrors.None ? null : errors.ToString();
            VerificationResult = errors == SslPolicyErrors.None ? TlsReportResult.Success : TlsReportResults.ForCertificate(errors, chain);
            return errors == SslPolicyErrors.None;
        };
    }

    /// <summary>DANE: the certificate must match the TLSA records (<see cref="DaneCheck"/>); .NET's own verdict is not used.</summary>
    /// <param name="names">The reference identifiers, the TLSA base domain first: it is also sent as SNI.</param>
    public void RequireDane(IReadOnlyList<TlsaAssociation> tlsa, IReadOnlyList<string> names, DateTime now)
    {
        // RFC 7672 8.1: with DANE the client MUST send SNI, and the name it sends is the TLSA base domain; for an MX
        // host that is a secure CNAME whose TLSA records were found at the alias's target (2.2.2), that is the target,
        // not the name the MX record gave. A server choosing its certificate by SNI must be asked for the name the
        // TLSA records vouch for. 3.2.2: the same base domain is the reference identifier for DANE-TA name checks
        // (with the MX host name as well), which DaneCheck gets as names.
        ServerName = names.Count > 0 ? names[0].TrimEnd('.') : null;
        ServerCertificateValidationCallback = (_, certificate, chain, _) =>
        {
            if (certificate is null)
            {
                VerificationFailure = "no certificate";
                VerificationResult = TlsReportResult.ValidationFailure;
                return false;
            }

            var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            var presented = new List<X509Certificate2> { leaf };
            if (chain is not null)
            {
                // What the server sent (.NET puts it in ExtraStore) and what the chain builder found from it.
                presented.AddRange(chain.ChainPolicy.ExtraStore);
                presented.AddRange(chain.ChainElements.Select(e => e.Certificate));
            }

            (VerificationFailure, var result, DaneVerifiedBy) = DaneCheck.Check(tlsa, leaf, presented.DistinctBy(c => c.Thumbprint).ToList(), names, now);
            VerificationResult = result;
            return VerificationFailure is null;
        };
    }

    /// <summary>DANE: what verified the certificate (<c>DANE-EE</c>, <c>DANE-TA</c>), for the K text; null when no TLSA
    /// record was usable (RFC 7672 2.2: TLS mandatory, unauthenticated) or before the handshake.</summary>
    public string? DaneVerifiedBy { get; private set; }

    /// <summary>DANE: the SNI name (the TLSA base domain) when it is not the host MailKit connects to; null: MailKit's.</summary>
    public string? ServerName { get; private set; }

    /// <summary>control/tlsclientciphers, expanded (<see cref="OpenSslCiphers"/>); null for OpenSSL's default.</summary>
    public CipherSuitesPolicy? CipherSuites { get; set; }

    public QRemoteSmtpClient(ReplyRecorder recorder)
        : base(recorder)
    {

        // Deliberate: opportunistic TLS (RFC 7435) encrypts without authenticating; refusing an unverified
        // certificate would only send the mail in plain text instead. Verified TLS is a policy (the TLS issue).
#pragma warning disable CA5359
        ServerCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore CA5359
    }

    /// <summary>
    /// TLS 1.2 or newer, SNI with the exchanger's name; the chain .NET builds anyway uses a custom root store (empty
    /// unless a policy gives roots), never downloads intermediates (no HTTP side-trips from an MTA) and never
    /// checks revocation online. (.NET would still read the system trust store: <see cref="SystemTrust"/> stops that.)
    /// </summary>
    protected override SslClientAuthenticationOptions GetSslClientAuthenticationOptions(string host, RemoteCertificateValidationCallback remoteCertificateValidationCallback)
    {
        var options = base.GetSslClientAuthenticationOptions(host, remoteCertificateValidationCallback);
        options.EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
        options.CertificateRevocationCheckMode = X509RevocationMode.NoCheck;
        options.CertificateChainPolicy = CustomRootPolicy.Create(TrustedRoots);
        if (ServerName is { Length: > 0 } sni && Uri.CheckHostName(sni) == UriHostNameType.Dns)
        {
            options.TargetHost = sni;
        }

        if (CipherSuites is { } suites)
        {
            options.CipherSuitesPolicy = suites;
        }

        return options;
    }
}

