using System.Net.Sockets;
using MailKit.Net.Smtp;
using MailKit.Security;
using QRemote.Dns;
using QRemote.Message;
using QRemote.Qmail;
using QRemote.Smtp;
using QRemote.Tls;

namespace QRemote.Delivery;

/// <summary>
/// One SMTP transaction over a connected socket, through MailKit, with every way it can end
/// mapped to qmail-remote's letters: K/r only after the server's 2xx; D/h only on the server's 5xx
/// (or on an address no server could be sent); everything else Z/s. The steps: open (greeting, EHLO, STARTTLS:
/// <see cref="OpeningFailures"/>), AUTH, the checks before MAIL (<see cref="Envelope"/>), the flight
/// (<see cref="PipelinedSender"/>), the verdict (<see cref="TransactionVerdict"/>).
/// </summary>
/// <param name="credentials">The relay route (smtproutes or authsenders) with its credentials, if any; null by MX. Its port 465
/// means implicit TLS.</param>
internal sealed partial class SmtpTransaction(Invocation invocation, MessageSource message, QmailConfig config, TextWriter? transcript, TimeProvider time, SmtpRoute? credentials = null)
{
    /// <summary>How much later than <c>timeoutremote</c> MailKit's own timeout fires.</summary>
    private const int BackstopMilliseconds = 10_000;

    /// <summary>Ends the connection from outside MailKit (the reply watchdog): a pending read fails at once.</summary>
    private static void Abort(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <param name="policy">How to use STARTTLS (<see cref="TlsPolicy"/>); <see cref="TlsMode.Off"/> also for the one
    /// plain retry after an opportunistic handshake failed.</param>
    public async Task<TransactionOutcome> RunAsync(Socket socket, Destination destination, TlsPolicy policy, SessionOptions? sessionOptions, CancellationToken cancellationToken)
    {
        var session = NewSession(socket);
        var kept = false;
        try
        {
            (var outcome, kept) = await OpenAndTransactAsync(session, destination, policy, sessionOptions, cancellationToken).ConfigureAwait(false);
            // TLS reporting: a failure seen while opening stands; else the verdict of the certificate check a policy made
            // (none under opportunistic TLS), which is the handshake's: the session may have ended since.
            return outcome with { Tls = session.Tls, TlsReport = outcome.TlsReport ?? session.Client.VerificationResult };
        }
        finally
        {
            if (!kept)
            {
                session.Dispose();
            }
        }
    }

    /// <summary>A delivery on a cached connection: RSET, then the transaction. <see cref="TransactionOutcome.ReuseFailed"/>
    /// when the connection turned out dead before anything that counts was sent (the caller opens a fresh one).</summary>
    public async Task<TransactionOutcome> RunReusedAsync(SmtpSession session, Destination destination, SessionOptions sessionOptions, CancellationToken cancellationToken)
    {
        session.Recorder.Transcript = transcript;
        transcript?.WriteLine($"reusing the connection to {destination.Address}:{destination.Port} ({session.Transactions} transaction{(session.Transactions == 1 ? "" : "s")}, {session.Age(time).TotalSeconds:0}s old)");
        var tls = session.Tls;
        var kept = false;
        try
        {
            (var outcome, kept) = await TransactAsync(session, destination, new SendProgress(), reuse: true, sessionOptions, cancellationToken).ConfigureAwait(false);
            return outcome with { Tls = tls };
        }
        finally
        {
            if (!kept)
            {
                session.Dispose();
            }
        }
    }

    private SmtpSession NewSession(Socket socket)
    {
        var recorder = new ReplyRecorder(transcript, time, TimeSpan.FromSeconds(config.TimeoutRemote), () => Abort(socket));
        var client = new QRemoteSmtpClient(recorder)
        {
            LocalDomain = config.HeloHost,
            // The recorder's watchdog is the clock that decides (and says why in the transcript); MailKit's own
            // per-operation timeout is only a backstop, set later so the two never race to end a connection.
            Timeout = checked((config.TimeoutRemote * 1000) + BackstopMilliseconds),
            CheckCertificateRevocation = false,
        };
        return new SmtpSession(socket, client, recorder, time);
    }

    private async Task<(TransactionOutcome Outcome, bool Kept)> OpenAndTransactAsync(SmtpSession session, Destination destination, TlsPolicy policy,
        SessionOptions? sessionOptions, CancellationToken cancellationToken)
    {
        var progress = new SendProgress { Stage = SmtpStage.Greeting };
        if (await OpenAsync(session, destination, policy, progress, cancellationToken).ConfigureAwait(false) is { } failed)
        {
            return (failed, false);
        }

        return await TransactAsync(session, destination, progress, reuse: false, sessionOptions, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Greeting, EHLO, STARTTLS, AUTH: null when the session is ready for MAIL, else the outcome.</summary>
    private async Task<TransactionOutcome?> OpenAsync(SmtpSession session, Destination destination, TlsPolicy policy, SendProgress progress,
        CancellationToken cancellationToken)
    {
        var client = session.Client;
        session.Policy = policy;
        if (policy.Mode != TlsMode.Off && ClientTls.Configure(client, policy, destination, config, time, transcript) is { } unreadable)
        {
            session.Tls = unreadable;
            return new(Reports.UnableToReadControlFiles(), TryNextAddress: false);
        }

        // MailKit takes greeting, EHLO/HELO and STARTTLS in one call: the stage follows the commands it writes.
        session.Recorder.CommandSent = progress.Opened;
        // A relay on port 465 speaks TLS from the first byte (RFC 8314): under any policy, notlshosts too (nothing
        // plain listens there); verified when the policy says so, as STARTTLS would be.
        var implicitTls = credentials is { ImplicitTls: true } && destination.Port == credentials.Port;
        try
        {
            await client.ConnectAsync(session.Socket, UriHost(destination), destination.Port,
                implicitTls ? SecureSocketOptions.SslOnConnect
                : policy.Required ? SecureSocketOptions.StartTls : policy.Mode != TlsMode.Off ? SecureSocketOptions.StartTlsWhenAvailable : SecureSocketOptions.None,
                cancellationToken).ConfigureAwait(false);
        }
        catch (SslHandshakeException e) when (implicitTls && !policy.Required)
        {
            // Opportunistic, but there is no plain text to retry with on this port: a deferral, the next address tried.
            var why = e.InnerException?.Message ?? e.Message;
            transcript?.WriteLine($"tls: implicit TLS handshake failed: {why}");
            session.Tls = "implicit TLS, handshake failed";
            return new(Reports.ImplicitTlsFailed(destination.Address, why), TryNextAddress: true);
        }
        catch (Exception e) when (OpeningFailures.For(e, progress.Stage, policy, destination.Address, client, session.Recorder, transcript,
            config.RequiresTls(message.Facts)) is { } failure)
        {
            session.Tls = failure.Tls;
            return failure.Outcome with { RetryWithoutTls = failure.Outcome.RetryWithoutTls && !implicitTls };
        }

        session.Tls = ClientTls.Describe(client, policy);
        session.TlsSummary = ClientTls.Summary(client, policy);
        transcript?.WriteLine($"tls: {session.Tls}");
        ReadLimits(session, progress);
        return await RelayAuthentication.RunAsync(session, destination.Address, credentials, transcript, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>From the SIZE check to the last reply: envelope, MAIL, RCPT, DATA or BDAT, the message.</summary>
    private async Task<(TransactionOutcome Outcome, bool Kept)> TransactAsync(SmtpSession session, Destination destination, SendProgress progress, bool reuse,
        SessionOptions? sessionOptions, CancellationToken cancellationToken)
    {
        var client = session.Client;
        var ip = destination.Address;
        var requireTls = config.RequiresTls(message.Facts);

        // REQUIRETLS (RFC 8689): the exchanger's policy was verified before connecting (Deliverer); the server must also
        // offer the keyword, inside TLS. Checked first: a server that cannot take the message at all is skipped.
        if (requireTls && !(client.IsSecure && client.Capabilities.HasFlag(SmtpCapabilities.RequireTLS)))
        {
            await session.QuitAsync().ConfigureAwait(false);
            return (new(Reports.RequireTlsNotOffered(ip), TryNextAddress: true, Refusal: ExchangerRefusal.RequireTls), false);
        }

        // SIZE (RFC 1870): a message over the advertised limit is refused here, before MAIL.
        if (client.Capabilities.HasFlag(SmtpCapabilities.Size) && client.MaxSize > 0 && message.Facts.WireLength > client.MaxSize)
        {
            await session.QuitAsync().ConfigureAwait(false);
            return (new(Reports.TooLarge(ip, message.Facts.WireLength, client.MaxSize), false), false);
        }

        var (envelope, refusal) = Envelope.For(invocation, client.Capabilities.HasFlag(SmtpCapabilities.UTF8), ip);
        if (envelope is null || envelope.Mailboxes.Count == 0)
        {
            await session.QuitAsync().ConfigureAwait(false);
            // Nothing to send only for want of SMTPUTF8: another exchanger that offers it is tried before this is the answer.
            var utf8Elsewhere = !client.Capabilities.HasFlag(SmtpCapabilities.UTF8) && Envelope.SendableWithSmtpUtf8(invocation, ip);
            return (new(refusal ?? Reports.GivingUp(ip, envelope!.RecipientReports(progress, ip)), TryNextAddress: utf8Elsewhere,
                Refusal: utf8Elsewhere ? ExchangerRefusal.SmtpUtf8 : ExchangerRefusal.None), false);
        }

        var batches = TransactionBatches.Split(envelope.Mailboxes.Select(m => m.Address).ToList(), session.Limits);
        if (batches.Count > 1)
        {
            return await TransactInBatchesAsync(session, destination, envelope, batches, reuse, sessionOptions, cancellationToken).ConfigureAwait(false);
        }

        // MAIL, RCPT, DATA or BDAT, the message: one flight when the server pipelines.
        try
        {
            await PipelinedSender.SendAsync(client, session.Recorder, envelope.Sender.Address, envelope.MailParameters(message.Facts, client.Capabilities, requireTls),
                envelope.Mailboxes.Select(m => m.Address).ToList(), message, client.Capabilities.HasFlag(SmtpCapabilities.Pipelining),
                client.Capabilities.HasFlag(SmtpCapabilities.Chunking), progress, cancellationToken, reuse, sessionOptions?.BeforeBody).ConfigureAwait(false);
        }
        catch (Exception e) when (reuse && OpeningFailures.IsConnectionFailure(e) && progress.Stage < SmtpStage.Body && !cancellationToken.IsCancellationRequested)
        {
            // A cached connection the server had given up on: nothing of the message went out. A fresh one is used.
            transcript?.WriteLine($"the reused connection failed before the message ({e.GetType().Name}): opening a fresh one");
            return (new(Reports.ConnectionDied(ip, possibleDuplicate: false, []), TryNextAddress: true, ReuseFailed: true), false);
        }
        catch (Exception e) when (OpeningFailures.IsConnectionFailure(e))
        {
            if (!TransactionVerdict.SettledBeforeLoss(progress, envelope))
            {
                return (new(TransactionVerdict.Lost(progress, envelope, ip), false), false);
            }
        }

        if (progress.Reset is { } reset && !PipelinedSender.IsPositive(reset))
        {
            // Whatever follows RSET in the flight counts for nothing on a connection whose state is unknown; it is closed
            // (before the message, and without a dot: nothing can be delivered on it) and a fresh one is used.
            transcript?.WriteLine($"RSET refused ({reset.Code}) on the reused connection: opening a fresh one");
            return (new(Reports.ConnectionDied(ip, possibleDuplicate: false, []), TryNextAddress: true, ReuseFailed: true), false);
        }

        var kept = await KeepOrQuitAsync(session, progress, sessionOptions).ConfigureAwait(false);
        return (new(TransactionVerdict.From(progress, envelope, ip, session.TlsSummary), false), kept);
    }

    /// <summary>A transaction that ended cleanly leaves a connection worth keeping (a daemon's cache), else QUIT. (In a
    /// data phase left open on purpose, QUIT would be message text: that connection is just closed.) True when kept.</summary>
    private static async Task<bool> KeepOrQuitAsync(SmtpSession session, SendProgress progress, SessionOptions? sessionOptions)
    {
        if (progress is { Data.Code: 354, Final: null })
        {
            return false;
        }

        session.Transactions++;
        if (sessionOptions?.Cache is { } cache && cache.TryPut(sessionOptions.Key, session))
        {
            return true;
        }

        await session.QuitAsync().ConfigureAwait(false);
        return false;
    }

    /// <summary>MailKit builds a URI from the host it is given (for logs and TLS): the exchanger name when it is
    /// a DNS name, else the address.</summary>
    private static string UriHost(Destination destination) =>
        Uri.CheckHostName(destination.ExchangerName) == UriHostNameType.Dns ? destination.ExchangerName
        : destination.Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{destination.Address}]"
        : destination.Address.ToString();
}
