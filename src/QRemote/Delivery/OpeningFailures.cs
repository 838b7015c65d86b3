using System.Net;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using QRemote.Qmail;
using QRemote.Smtp;
using QRemote.Tls;

namespace QRemote.Delivery;

/// <summary>
/// How opening a connection (greeting, EHLO/HELO, STARTTLS and its handshake, all MailKit's) can fail, each way
/// mapped to an outcome by the stage it failed in: verified TLS never falls back to plain text; opportunistic TLS
/// that fails is retried once without it (<see cref="TransactionOutcome.RetryWithoutTls"/>); a refused greeting or
/// name, or a lost connection, lets the next address be tried. Every one of them is a deferral.
/// </summary>
internal static class OpeningFailures
{
    /// <summary>The outcome of <paramref name="e"/>, thrown while opening in <paramref name="stage"/>, and the TLS state
    /// for the log; null for an exception that is not a way opening fails (it goes on up).</summary>
    /// <param name="requireTls">The message is under REQUIRETLS (RFC 8689): a server without STARTTLS, or whose certificate
    /// does not verify, definitely cannot take it (<see cref="ExchangerRefusal.RequireTls"/>); a handshake that merely broke
    /// off is a deferral still.</param>
    public static (TransactionOutcome Outcome, string Tls)? For(Exception e, SmtpStage stage, TlsPolicy policy, IPAddress ip, QRemoteSmtpClient client,
        ReplyRecorder recorder, TextWriter? transcript, bool requireTls = false)
    {
        var tls = policy.Mode != TlsMode.Off;
        var verified = policy.Required;
        if (e is NotSupportedException && verified)
        {
            // Required TLS and no STARTTLS offered: never plain text. Another exchanger may do better.
            return (requireTls
                ? new(Reports.RequireTlsNotVerified(ip, policy.Why, "no STARTTLS offered"), TryNextAddress: true, Refusal: ExchangerRefusal.RequireTls) { TlsReport = TlsReportResult.StarttlsNotSupported }
                : new(Reports.TlsNotOffered(ip, policy.Why), TryNextAddress: true) { TlsReport = TlsReportResult.StarttlsNotSupported }, "required, not offered");
        }

        if (verified && (e is SslHandshakeException || (e is SmtpCommandException && stage == SmtpStage.StartTls)))
        {
            var why = client.VerificationFailure ?? e.InnerException?.Message ?? e.Message;
            transcript?.WriteLine($"tls: required by {policy.Why}, failed: {why}");
            // Only a certificate that was seen and refused is definite; a broken handshake or a refused STARTTLS may mend.
            var result = client.VerificationResult is { } seen && seen != TlsReportResult.Success ? seen : TlsReportResult.ValidationFailure;
            return (requireTls && client.VerificationFailure is not null
                ? new(Reports.RequireTlsNotVerified(ip, policy.Why, why), TryNextAddress: true, Refusal: ExchangerRefusal.RequireTls) { TlsReport = result }
                : new(Reports.TlsNotVerified(ip, policy.Why, why), TryNextAddress: true) { TlsReport = result }, "required, verification failed");
        }

        switch (e)
        {
            case SslHandshakeException:
                // Opportunistic TLS must not make mail undeliverable: the same address is tried once more
                // without TLS (and the log says so). A server that breaks the connection during STARTTLS
                // lands here too.
                transcript?.WriteLine($"TLS handshake failed ({e.InnerException?.Message ?? e.Message}): retrying {Reports.Host(ip)} without TLS");
                return (Died(ip, retryWithoutTls: true), "handshake failed");
            case SmtpCommandException refused when tls && stage == SmtpStage.StartTls:
                // The server offered STARTTLS and then refused it (454 "TLS not available"): opportunistic
                // TLS goes on without it, on a fresh connection to the same address.
                transcript?.WriteLine($"STARTTLS refused ({(int)refused.StatusCode}): retrying {Reports.Host(ip)} without TLS");
                return (Died(ip, retryWithoutTls: true), $"STARTTLS refused: {(int)refused.StatusCode}");
            case SmtpCommandException refused:
                var reply = ReplyFor(recorder, (int)refused.StatusCode, refused.Message);
                var text = (stage == SmtpStage.Greeting ? Reports.GreetingFailed(ip) : Reports.NameRejected(ip)) + Reports.RemoteHostSaid(reply.Lines);
                return (new(DeliveryReport.MessageOnly(MessageLetter.Deferred, text), TryNextAddress: true), "none");
            case Exception when IsConnectionFailure(e):
                return (Died(ip, retryWithoutTls: false), "none");
            default:
                return null;
        }
    }

    /// <summary>An exception that means the connection is gone (or the server made no sense): the outcome is a
    /// deferral, "connection died".</summary>
    public static bool IsConnectionFailure(Exception e) =>
        e is IOException or System.Net.Sockets.SocketException or TimeoutException or SmtpProtocolException or OperationCanceledException
            or ServiceNotConnectedException or SslHandshakeException or ObjectDisposedException;

    /// <summary>The server's reply with its codes, from the wire when the last reply there is the one
    /// MailKit complained about; else rebuilt from MailKit's text.</summary>
    private static SmtpReply ReplyFor(ReplyRecorder recorder, int code, string text) =>
        recorder.LastReply is { } last && last.Code == code ? last : SmtpReply.FromMailKit(code, text);

    private static TransactionOutcome Died(IPAddress ip, bool retryWithoutTls) =>
        new(Reports.ConnectionDied(ip, possibleDuplicate: false, []), TryNextAddress: true, RetryWithoutTls: retryWithoutTls);
}
