using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using QRemote.Dns;
using QRemote.Message;
using QRemote.Qmail;
using QRemote.Smtp;

namespace QRemote.Delivery;

/// <summary>
/// One SMTP transaction over a connected socket, through MailKit, with every way it can end
/// mapped to qmail-remote's letters: K/r only after the server's 2xx; D/h only on the server's 5xx
/// (or on an address no server could be sent); everything else Z/s.
/// </summary>
/// <param name="credentials">smtproutes credentials (qmail's AUTH patch syntax) for this route, or null.</param>
public sealed class SmtpTransaction(Invocation invocation, MessageSource message, QmailConfig config, TextWriter? transcript, TimeProvider time, SmtpRoute? credentials = null)
{
    /// <summary>What TLS the last connection had, for the log.</summary>
    public string Tls { get; private set; } = "none";

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

    /// <summary>How much later than <c>timeoutremote</c> MailKit's own timeout fires.</summary>
    private const int BackstopMilliseconds = 10_000;

    /// <param name="policy">How to use STARTTLS (<see cref="TlsPolicy"/>); <see cref="TlsMode.Off"/> also for the one
    /// plain retry after an opportunistic handshake failed.</param>
    public async Task<TransactionOutcome> RunAsync(Socket socket, Destination destination, TlsPolicy policy, SessionOptions? sessionOptions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(destination);
        var recorder = new ReplyRecorder(transcript, time, TimeSpan.FromSeconds(config.TimeoutRemote), () => Abort(socket));
        var client = new QRemoteSmtpClient(recorder)
        {
            LocalDomain = config.HeloHost,
            // The recorder's watchdog is the clock that decides (and says why in the transcript); MailKit's own
            // per-operation timeout is only a backstop, set later so the two never race to end a connection.
            Timeout = checked((config.TimeoutRemote * 1000) + BackstopMilliseconds),
            CheckCertificateRevocation = false,
        };
        var session = new SmtpSession(socket, client, recorder, time);
        var kept = false;
        try
        {
            (var outcome, kept) = await OpenAndTransactAsync(session, destination, policy, sessionOptions, cancellationToken).ConfigureAwait(false);
            return outcome;
        }
        finally
        {
            if (!kept)
            {
                session.Dispose();
            }
        }
    }

    /// <summary>A delivery on a cached connection: RSET, then the transaction. Null when the connection turned out
    /// dead before anything that counts was sent (the caller opens a fresh one).</summary>
    public async Task<TransactionOutcome> RunReusedAsync(SmtpSession session, Destination destination, SessionOptions sessionOptions, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(sessionOptions);
        session.Recorder.Transcript = transcript;
        transcript?.WriteLine($"reusing the connection to {destination.Address}:{destination.Port} ({session.Transactions} transaction{(session.Transactions == 1 ? "" : "s")}, {session.Age(time).TotalSeconds:0}s old)");
        Tls = session.Tls;
        var kept = false;
        try
        {
            (var outcome, kept) = await TransactAsync(session, destination, reuse: true, sessionOptions, cancellationToken).ConfigureAwait(false);
            return outcome;
        }
        finally
        {
            if (!kept)
            {
                session.Dispose();
            }
        }
    }

    private async Task<(TransactionOutcome Outcome, bool Kept)> OpenAndTransactAsync(SmtpSession session, Destination destination, TlsPolicy policy,
        SessionOptions? sessionOptions, CancellationToken cancellationToken)
    {
        var tls = policy.Mode != TlsMode.Off;
        var verified = policy.Required;
        var socket = session.Socket;
        var client = session.Client;
        var recorder = session.Recorder;
        var ip = destination.Address;

        if (tls && ConfigureTls(client, policy, destination) is { } unreadable)
        {
            return (new(Reports.UnableToReadControlFiles(), TryNextAddress: false, Tls: unreadable), false);
        }

        // ---- greeting and EHLO/HELO ----------------------------------------------------------
        try
        {
            await client.ConnectAsync(socket, UriHost(destination), destination.Port,
                verified ? SecureSocketOptions.StartTls : tls ? SecureSocketOptions.StartTlsWhenAvailable : SecureSocketOptions.None,
                cancellationToken).ConfigureAwait(false);
        }
        catch (NotSupportedException) when (verified)
        {
            // Required TLS and no STARTTLS offered: never plain text. Another exchanger may do better.
            return (new(Reports.TlsNotOffered(ip, policy.Why), TryNextAddress: true, Tls: "required, not offered"), false);
        }
        catch (Exception e) when (verified && (e is SslHandshakeException || (e is SmtpCommandException && recorder.LastCommand == "STARTTLS")))
        {
            var why = client.VerificationFailure ?? e.InnerException?.Message ?? e.Message;
            transcript?.WriteLine($"tls: required by {policy.Why}, failed: {why}");
            return (new(Reports.TlsNotVerified(ip, policy.Why, why), TryNextAddress: true, Tls: "required, verification failed"), false);
        }
        catch (SslHandshakeException e)
        {
            // Opportunistic TLS must not make mail undeliverable: the same address is tried once more
            // without TLS (and the log says so). A server that breaks the connection during STARTTLS
            // lands here too.
            transcript?.WriteLine($"TLS handshake failed ({e.InnerException?.Message ?? e.Message}): retrying {Reports.Host(ip)} without TLS");
            return (new(Reports.ConnectionDied(ip, possibleDuplicate: false, []), TryNextAddress: true, RetryWithoutTls: true, Tls: "handshake failed"), false);
        }
        catch (SmtpCommandException e) when (tls && recorder.LastCommand == "STARTTLS")
        {
            // The server offered STARTTLS and then refused it (454 "TLS not available"): opportunistic
            // TLS goes on without it, on a fresh connection to the same address.
            transcript?.WriteLine($"STARTTLS refused ({(int)e.StatusCode}): retrying {Reports.Host(ip)} without TLS");
            return (new(Reports.ConnectionDied(ip, possibleDuplicate: false, []), TryNextAddress: true, RetryWithoutTls: true, Tls: $"STARTTLS refused: {(int)e.StatusCode}"), false);
        }
        catch (SmtpCommandException e)
        {
            var greeting = recorder.ReplyCount <= 1;
            var reply = ReplyFor(recorder, (int)e.StatusCode, e.Message);
            var text = (greeting ? Reports.GreetingFailed(ip) : Reports.NameRejected(ip)) + Reports.RemoteHostSaid(reply.Lines);
            return (new(DeliveryReport.MessageOnly(MessageLetter.Deferred, text), TryNextAddress: true), false);
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            return (new(Reports.ConnectionDied(ip, possibleDuplicate: false, []), TryNextAddress: true), false);
        }

        var tlsState = client.IsSecure
            ? $"{client.SslProtocol} {client.SslCipherSuite}, " + (verified ? $"certificate verified ({policy.Why})" : $"certificate not verified ({policy.Why})")
            : policy.Mode == TlsMode.Off ? $"none ({policy.Why})" : "none (not offered)";
        transcript?.WriteLine($"tls: {tlsState}");
        Tls = tlsState;
        session.Tls = tlsState;

        // ---- AUTH (smtproutes credentials): only inside TLS; never a plain-text password -----------
        if (credentials is { User: { } user, Password: { } password })
        {
            if (!client.IsSecure)
            {
                await session.QuitAsync().ConfigureAwait(false);
                return (new(Reports.AuthWithoutTls(ip), TryNextAddress: true), false);
            }

            if (client.AuthenticationMechanisms.Count == 0)
            {
                transcript?.WriteLine("auth: the relay offers no AUTH; sending without");
            }
            else
            {
                try
                {
                    await client.AuthenticateAsync(new System.Net.NetworkCredential(user, password), cancellationToken).ConfigureAwait(false);
                    transcript?.WriteLine($"auth: authenticated as {user}");
                }
                catch (AuthenticationException e)
                {
                    var reply = recorder.LastReply ?? SmtpReply.FromMailKit(535, e.Message);
                    await session.QuitAsync().ConfigureAwait(false);
                    return (new(DeliveryReport.MessageOnly(MessageLetter.Deferred, Reports.AuthFailed(ip) + Reports.RemoteHostSaid(reply.Lines)), false), false);
                }
                catch (Exception e) when (IsConnectionFailure(e))
                {
                    return (new(Reports.ConnectionDied(ip, possibleDuplicate: false, []), TryNextAddress: true), false);
                }
            }
        }

        return await TransactAsync(session, destination, reuse: false, sessionOptions, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>From the SIZE check to the last reply: envelope, MAIL, RCPT, DATA or BDAT, the message.</summary>
    private async Task<(TransactionOutcome Outcome, bool Kept)> TransactAsync(SmtpSession session, Destination destination, bool reuse,
        SessionOptions? sessionOptions, CancellationToken cancellationToken)
    {
        var socket = session.Socket;
        var client = session.Client;
        var recorder = session.Recorder;
        var ip = destination.Address;

        // ---- SIZE (RFC 1870): a message over the advertised limit is refused here, before MAIL ---------
        if (client.Capabilities.HasFlag(SmtpCapabilities.Size) && client.MaxSize > 0 && message.Facts.WireLength > client.MaxSize)
        {
            await session.QuitAsync().ConfigureAwait(false);
            return (new(Reports.TooLarge(ip, message.Facts.WireLength, client.MaxSize), false), false);
        }

        // ---- envelope ----------------------------------------------------------------------------
        var utf8 = client.Capabilities.HasFlag(SmtpCapabilities.UTF8);
        var senderWire = EnvelopeAddress.ToWire(invocation.Sender)!;
        if (!utf8 && EnvelopeAddress.NeedsSmtpUtf8(senderWire))
        {
            await session.QuitAsync().ConfigureAwait(false);
            return (new(Reports.SenderNeedsSmtpUtf8(ip), false), false);
        }

        if (!TryMailbox(senderWire, out var sender))
        {
            await session.QuitAsync().ConfigureAwait(false);
            return (new(Reports.BadSender(), false), false);
        }

        var local = new RecipientReport?[invocation.Recipients.Count];
        var keys = new string?[invocation.Recipients.Count];
        var mailboxes = new List<MailboxAddress>();
        for (var i = 0; i < invocation.Recipients.Count; i++)
        {
            var wire = EnvelopeAddress.ToWire(invocation.Recipients[i]);
            if (wire is null)
            {
                local[i] = Reports.BadRecipient();
            }
            else if (!utf8 && EnvelopeAddress.NeedsSmtpUtf8(wire))
            {
                local[i] = Reports.RecipientNeedsSmtpUtf8(ip);
            }
            else if (!TryMailbox(wire, out var mailbox))
            {
                local[i] = Reports.RecipientNotValidSyntax();
            }
            else
            {
                keys[i] = MailboxKey(mailbox.Address);
                if (!mailboxes.Any(m => MailboxKey(m.Address) == keys[i]))
                {
                    mailboxes.Add(mailbox);
                }
            }
        }

        var progress = new SendProgress();
        IReadOnlyList<RecipientReport> RecipientReports()
        {
            var replies = new Dictionary<string, SmtpReply>(StringComparer.Ordinal);
            for (var j = 0; j < progress.Recipients.Count && j < mailboxes.Count; j++)
            {
                replies[MailboxKey(mailboxes[j].Address)] = progress.Recipients[j];
            }

            return local.Select((r, i) => r ?? RecipientFromReply(replies, keys[i]!, ip)).ToList();
        }

        if (mailboxes.Count == 0)
        {
            await session.QuitAsync().ConfigureAwait(false);
            return (new(Reports.GivingUp(ip, local.Select(r => r!).ToList()), false), false);
        }

        // ---- MAIL, RCPT, DATA or BDAT, the message: one flight when the server pipelines -------------
        var parameters = new System.Text.StringBuilder();
        if (utf8 && (EnvelopeAddress.NeedsSmtpUtf8(senderWire) || mailboxes.Any(m => EnvelopeAddress.NeedsSmtpUtf8(m.Address))))
        {
            parameters.Append(" SMTPUTF8");
        }

        if (message.Facts.HasEightBit && client.Capabilities.HasFlag(SmtpCapabilities.EightBitMime))
        {
            parameters.Append(" BODY=8BITMIME");
        }

        if (client.Capabilities.HasFlag(SmtpCapabilities.Size))
        {
            parameters.Append(System.Globalization.CultureInfo.InvariantCulture, $" SIZE={message.Facts.WireLength}");
        }

        try
        {
            await PipelinedSender.SendAsync(client, recorder, sender.Address, parameters.ToString(), mailboxes.Select(m => m.Address).ToList(), message,
                client.Capabilities.HasFlag(SmtpCapabilities.Pipelining), client.Capabilities.HasFlag(SmtpCapabilities.Chunking), progress, cancellationToken,
                reuse, sessionOptions?.BeforeBody).ConfigureAwait(false);
        }
        catch (Exception e) when (reuse && IsConnectionFailure(e) && progress.Stage < SmtpStage.Body && !cancellationToken.IsCancellationRequested)
        {
            // A cached connection the server had given up on: nothing of the message went out. A fresh one is used.
            transcript?.WriteLine($"the reused connection failed before the message ({e.GetType().Name}): opening a fresh one");
            return (new(Reports.ConnectionDied(ip, possibleDuplicate: false, []), TryNextAddress: true, ReuseFailed: true), false);
        }
        catch (Exception e) when (IsConnectionFailure(e))
        {
            // A connection lost after the server has refused the sender, or every recipient, loses nothing: those
            // answers stand (a 421 to RCPT and a close, say). Otherwise the outcome is unknown.
            var rcptDone = progress.Recipients.Count >= mailboxes.Count;
            var refused = progress.Mail is { } m && (!PipelinedSender.IsPositive(m) || (rcptDone && !progress.Recipients.Any(PipelinedSender.IsPositive)));
            if (!refused)
            {
                return (new(Reports.ConnectionDied(ip, progress.Stage == SmtpStage.AfterDot, rcptDone ? RecipientReports() : []), false), false);
            }
        }

        if (progress.Reset is { } reset && !PipelinedSender.IsPositive(reset))
        {
            // Whatever follows RSET in the flight counts for nothing on a connection whose state is unknown; it is closed
            // (before the message, and without a dot: nothing can be delivered on it) and a fresh one is used.
            transcript?.WriteLine($"RSET refused ({reset.Code}) on the reused connection: opening a fresh one");
            return (new(Reports.ConnectionDied(ip, possibleDuplicate: false, []), TryNextAddress: true, ReuseFailed: true), false);
        }

        // A transaction that ended cleanly leaves a connection worth keeping (a daemon's cache), else QUIT. (In a
        // data phase left open on purpose, QUIT would be message text: that connection is just closed.)
        var kept = false;
        if (progress is not { Data.Code: 354, Final: null })
        {
            session.Transactions++;
            kept = sessionOptions?.Cache is { } cache && cache.TryPut(sessionOptions.Key, session);
            if (!kept)
            {
                await session.QuitAsync().ConfigureAwait(false);
            }
        }

        var mail = progress.Mail!;
        if (!PipelinedSender.IsPositive(mail))
        {
            return (new(DeliveryReport.MessageOnly(mail.Code >= 500 ? MessageLetter.Failed : MessageLetter.Deferred,
                Reports.SenderRejected(ip) + Reports.RemoteHostSaid(mail.Lines)), false), kept);
        }

        if (!progress.Recipients.Any(PipelinedSender.IsPositive))
        {
            return (new(Reports.GivingUp(ip, RecipientReports()), false), kept);
        }

        // The last word: the reply after the dot (or to BDAT LAST), else the refusal of DATA.
        var last = progress.Final ?? progress.Data!;
        var afterMessage = progress.Final is not null;
        var letter = last.Code is >= 200 and < 300 && afterMessage ? MessageLetter.Delivered
            : last.Code is >= 500 and < 600 ? MessageLetter.Failed
            : MessageLetter.Deferred;
        var what = letter == MessageLetter.Delivered ? Reports.Accepted(ip)
            : afterMessage ? Reports.FailedAfterMessage(ip) : Reports.DataFailed(ip);
        return (new(new(RecipientReports(), letter, what + Reports.RemoteHostSaid(last.Lines)), false), kept);
    }

    /// <summary>Sets up the handshake for <paramref name="policy"/>: what verifies the certificate, the client
    /// certificate, the cipher list. Returns why a control file could not be used, or null.</summary>
    private string? ConfigureTls(QRemoteSmtpClient client, TlsPolicy policy, Destination destination)
    {
        try
        {
            switch (policy.Mode)
            {
                case TlsMode.Verified:
                    var roots = new X509Certificate2Collection();
                    roots.ImportFromPemFile(policy.CaFile!);
                    client.RequireVerified(roots);
                    break;
                case TlsMode.MtaSts:
                    client.RequireVerified(policy.Roots ?? []);
                    break;
                case TlsMode.Dane:
                    client.RequireDane(policy.Tlsa, policy.DaneNames.Count > 0 ? policy.DaneNames : [destination.ExchangerName], time.GetUtcNow().UtcDateTime);
                    break;
            }

            if (config.ClientCertificatePath is { } certificate)
            {
                // The certificate and its key in one PEM file, as qmail's TLS patch has it.
                client.ClientCertificates = [X509Certificate2.CreateFromPemFile(certificate)];
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            transcript?.WriteLine($"tls: {e.Message}");
            return "policy file unreadable: " + e.Message;
        }

        if (config.TlsClientCiphers is { } expression)
        {
            var suites = QRemote.Tls.OpenSslCiphers.Expand(expression, out var error);
            if (suites is null)
            {
                transcript?.WriteLine($"tls: control/tlsclientciphers: {error}");
                return "control/tlsclientciphers: " + error;
            }

            client.CipherSuites = new System.Net.Security.CipherSuitesPolicy(suites);
        }

        return null;
    }

    /// <summary>The server's reply with its codes, from the wire when the last reply there is the one
    /// MailKit complained about; else rebuilt from MailKit's text.</summary>
    private static SmtpReply ReplyFor(ReplyRecorder recorder, int code, string text) =>
        recorder.LastReply is { } last && last.Code == code ? last : SmtpReply.FromMailKit(code, text);

    private static RecipientReport RecipientFromReply(Dictionary<string, SmtpReply> replies, string key, IPAddress ip)
    {
        if (!replies.TryGetValue(key, out var reply))
        {
            return Reports.NoAnswerForRecipient(ip);
        }

        return reply.Code switch
        {
            >= 200 and < 300 => RecipientReport.Accepted,
            >= 500 and < 600 => new RecipientReport(RecipientLetter.Rejected, Reports.RecipientRejected(ip) + Reports.RemoteHostSaid(reply.Lines)),
            _ => new RecipientReport(RecipientLetter.Deferred, Reports.RecipientRejected(ip) + Reports.RemoteHostSaid(reply.Lines)),
        };
    }

    /// <summary>What makes two recipients one mailbox, so one RCPT: the local part as it is (case-sensitive, RFC 5321
    /// 2.4: <c>User@</c> and <c>user@</c> may be two people), the domain in any case.</summary>
    private static string MailboxKey(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? address : string.Concat(address.AsSpan(0, at + 1), address[(at + 1)..].ToLowerInvariant());
    }

    private static bool TryMailbox(string wire, out MailboxAddress mailbox)
    {
        try
        {
            mailbox = new MailboxAddress("", wire);
            return true;
        }
        catch (ParseException)
        {
            mailbox = null!;
            return false;
        }
    }

    /// <summary>MailKit builds a URI from the host it is given (for logs and TLS): the exchanger name when it is
    /// a DNS name, else the address.</summary>
    private static string UriHost(Destination destination) =>
        Uri.CheckHostName(destination.ExchangerName) == UriHostNameType.Dns ? destination.ExchangerName
        : destination.Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{destination.Address}]"
        : destination.Address.ToString();

    private static bool IsConnectionFailure(Exception e) =>
        e is IOException or SocketException or TimeoutException or SmtpProtocolException or OperationCanceledException
            or ServiceNotConnectedException or SslHandshakeException or ObjectDisposedException;
}
