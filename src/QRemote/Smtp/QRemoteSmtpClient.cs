using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MailKit;
using MailKit.Net.Smtp;
using MimeKit;
using QRemote.Tls;

namespace QRemote.Smtp;

/// <summary>
/// MailKit's SmtpClient with the few hooks qmail-remote needs:
/// <list type="bullet">
/// <item>no <c>Prepare</c>: the message is sent as it is, never re-encoded;</item>
/// <item>the size is the wire size we already measured (MailKit would write the whole message once
/// more just to count it);</item>
/// <item>BDAT (<c>BDAT n LAST</c>, no dot-stuffing) whenever the server offers CHUNKING;</item>
/// <item>per-recipient results collected instead of thrown (MailKit throws at the first refused RCPT), and
/// the MAIL and "no recipient accepted" refusals raised as <see cref="SmtpRefusedException"/>, which
/// carries the server's own reply.</item>
/// </list>
/// </summary>
public sealed class QRemoteSmtpClient : SmtpClient
{
    private readonly ReplyRecorder recorder;
    private readonly long wireSize;

    /// <summary>Set for verified TLS (control/tlshosts): the CA certificates the server's must chain to.</summary>
    public X509Certificate2Collection? TrustedRoots { get; private set; }

    /// <summary>Why verification failed, when it did.</summary>
    public string? VerificationFailure { get; private set; }

    /// <summary>Verified TLS: the chain must end at one of <paramref name="roots"/> and the certificate must name the host.</summary>
    public void RequireVerified(X509Certificate2Collection roots)
    {
        TrustedRoots = roots;
        ServerCertificateValidationCallback = (_, _, _, errors) =>
        {
            VerificationFailure = errors == SslPolicyErrors.None ? null : errors.ToString();
            return errors == SslPolicyErrors.None;
        };
    }

    /// <summary>DANE: the certificate must match the TLSA records (<see cref="DaneCheck"/>); .NET's own verdict is not used.</summary>
    public void RequireDane(IReadOnlyList<TlsaAssociation> tlsa, string exchanger, DateTime now)
    {
        ServerCertificateValidationCallback = (_, certificate, chain, _) =>
        {
            if (certificate is null)
            {
                VerificationFailure = "no certificate";
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

            VerificationFailure = DaneCheck.Verify(tlsa, leaf, presented.DistinctBy(c => c.Thumbprint).ToList(), exchanger, now);
            return VerificationFailure is null;
        };
    }

    /// <summary>control/tlsclientciphers, expanded (<see cref="OpenSslCiphers"/>); null for OpenSSL's default.</summary>
    public CipherSuitesPolicy? CipherSuites { get; set; }

    public QRemoteSmtpClient(ReplyRecorder recorder, long wireSize)
        : base(recorder)
    {
        this.recorder = recorder;
        this.wireSize = wireSize;

        // Deliberate: opportunistic TLS (RFC 7435) encrypts without authenticating; refusing an unverified
        // certificate would only send the mail in plain text instead. Verified TLS is a policy (the TLS issue).
#pragma warning disable CA5359
        ServerCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore CA5359
    }

    /// <summary>The reply to MAIL or a RCPT as the server sent it (with codes, raw bytes sanitized), taken in
    /// command order from the recorder; MailKit's own text (codes stripped, bytes decoded as Latin-1 when
    /// not UTF-8) only if the two disagree.</summary>
    private SmtpReply Reply(SmtpResponse response) =>
        recorder.Claim((int)response.StatusCode) ?? SmtpReply.FromMailKit((int)response.StatusCode, response.Response);

    /// <summary>Call right before sending: the replies from here on belong to MAIL, then each RCPT.</summary>
    public void StartTransaction() => recorder.StartQueueing();

    /// <summary>RCPT replies by the address as MailKit sent it (MailKit merges addresses case-insensitively).</summary>
    public Dictionary<string, SmtpReply> RecipientReplies { get; } = new(StringComparer.OrdinalIgnoreCase);

    protected override bool PreferSendAsBinaryData => true;

    /// <summary>
    /// Opportunistic TLS (RFC 7435): TLS 1.2 or newer, SNI with the exchanger's name, any certificate
    /// accepted, since no policy asks for verification. The chain .NET builds anyway (to report policy
    /// errors nobody reads) uses an empty custom root store, never downloads intermediates (no HTTP
    /// side-trips from an MTA) and never checks revocation online. (It does not stop .NET reading the system
    /// trust store: <see cref="SystemTrust"/> does.)
    /// </summary>
    protected override SslClientAuthenticationOptions GetSslClientAuthenticationOptions(string host, RemoteCertificateValidationCallback remoteCertificateValidationCallback)
    {
        var options = base.GetSslClientAuthenticationOptions(host, remoteCertificateValidationCallback);
        options.EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
        options.CertificateRevocationCheckMode = X509RevocationMode.NoCheck;
        options.CertificateChainPolicy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
            DisableCertificateDownloads = true,
        };
        if (TrustedRoots is { } roots)
        {
            options.CertificateChainPolicy.CustomTrustStore.AddRange(roots);
        }

        if (CipherSuites is { } suites)
        {
            options.CipherSuitesPolicy = suites;
        }

        return options;
    }

    protected override void Prepare(FormatOptions options, MimeMessage message, EncodingConstraint constraint, int maxLineLength)
    {
    }

    protected override long GetSize(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) => wireSize;

    protected override Task<long> GetSizeAsync(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) =>
        Task.FromResult(wireSize);

    protected override void OnSenderNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        throw new SmtpRefusedException(SmtpStage.Mail, Reply(response));
    }

    protected override void OnSenderAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        Reply(response);
    }

    protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
    {
        ArgumentNullException.ThrowIfNull(mailbox);
        ArgumentNullException.ThrowIfNull(response);
        RecipientReplies[mailbox.Address] = Reply(response);
    }

    protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
    {
        ArgumentNullException.ThrowIfNull(mailbox);
        ArgumentNullException.ThrowIfNull(response);
        RecipientReplies[mailbox.Address] = Reply(response);
    }

    protected override void OnNoRecipientsAccepted(MimeMessage message) =>
        throw new SmtpRefusedException(SmtpStage.Rcpt, null);
}

/// <summary>Where in the SMTP dialogue a transaction stands; decides which report a failure gets.</summary>
public enum SmtpStage
{
    Greeting,
    Hello,
    Mail,
    Rcpt,
    Data,
    /// <summary>Body bytes are going out; the final dot may follow at any moment.</summary>
    Body,
    /// <summary>The final dot (or BDAT LAST) is sent: a failure now may be a duplicate.</summary>
    AfterDot,
}

/// <summary>The server said no (as opposed to the connection breaking). A MailKit command exception, so
/// MailKit resets the transaction and keeps the connection for a polite QUIT.</summary>
public sealed class SmtpRefusedException(SmtpStage stage, SmtpReply? reply)
    : SmtpCommandException(SmtpErrorCode.MessageNotAccepted, (SmtpStatusCode)(reply?.Code ?? 554), $"refused at {stage}: {reply?.Lines}")
{
    public SmtpStage Stage { get; } = stage;

    public SmtpReply? Reply { get; } = reply;
}
