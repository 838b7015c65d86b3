using System.Net;
using MailKit.Net.Smtp;
using QRemote.Dns;
using QRemote.Qmail;
using QRemote.Smtp;

namespace QRemote.Delivery;

/// <summary>A delivery the server's RFC 9422 limits split into several transactions (<see cref="TransactionBatches"/>).</summary>
internal sealed partial class SmtpTransaction
{
    /// <summary>The most connections one delivery opens to one address because of <c>MAILMAX</c> (or because the
    /// server dropped a connection before a transaction's message): a server saying <c>MAILMAX=1 RCPTMAX=1</c> to a
    /// thousand recipients gets this many, and the recipients left are deferred, not a thousand connections.</summary>
    public const int MaxConnections = 10;

    /// <summary>The limits from the last EHLO reply (MailKit's last exchange while opening is EHLO, repeated after
    /// STARTTLS, so they are the ones given inside TLS; a HELO reply has no keywords).</summary>
    private void ReadLimits(SmtpSession session, SendProgress progress)
    {
        session.Limits = progress.Stage == SmtpStage.Hello ? SmtpLimits.FromEhlo(session.Recorder.LastReply?.Lines) : SmtpLimits.None;
        if (session.Limits != SmtpLimits.None)
        {
            transcript?.WriteLine($"limits: {session.Limits}");
        }
    }

    /// <summary>
    /// One transaction after another, each with its batch of mailboxes: a new MAIL right after a transaction that ended
    /// with its final reply (RFC 5321 needs no RSET there), RSET first after one that did not. When <c>MAILMAX</c> is
    /// reached, or the connection can carry no more, another connection to the same address, opened the same way, takes
    /// the rest (at most <see cref="MaxConnections"/>). A transaction lost before any byte of its message went out is
    /// sent again on the next connection; lost later, its accepted recipients are deferred. <see cref="TransactionLedger"/>
    /// turns the outcomes into the report.
    /// </summary>
    private async Task<(TransactionOutcome Outcome, bool Kept)> TransactInBatchesAsync(SmtpSession first, Destination destination, Envelope envelope,
        IReadOnlyList<IReadOnlyList<int>> batches, bool reuse, SessionOptions? sessionOptions, CancellationToken cancellationToken)
    {
        var ip = destination.Address;
        var ledger = new TransactionLedger(envelope, ip);
        transcript?.WriteLine($"limits {first.Limits}: {envelope.Mailboxes.Count} recipients in {batches.Count} transactions");
        SmtpSession? session = first;
        var connections = 1;
        var reset = reuse;
        var next = 0;
        var retried = -1;
        // The daemon's commit (its client is told the outcome may be unknown from here) happens once, before the first message.
        var committed = false;
        Func<Task>? beforeBody = sessionOptions?.BeforeBody is not { } hook ? null : async () =>
        {
            if (!committed)
            {
                committed = true;
                await hook().ConfigureAwait(false);
            }
        };
        while (next < batches.Count && !cancellationToken.IsCancellationRequested)
        {
            if (session is null || !session.MayStartTransaction)
            {
                if (session is not null)
                {
                    await session.QuitAsync().ConfigureAwait(false);
                }

                session = null;
                if (connections >= MaxConnections)
                {
                    ledger.NotTried(batches.Skip(next).SelectMany(b => b), Reports.TransactionsPerConnectionExhausted(ip).Text);
                    break;
                }

                connections++;
                (session, var why) = await ReconnectAsync(destination, first.Policy!, cancellationToken).ConfigureAwait(false);
                if (session is null)
                {
                    ledger.NotTried(batches.Skip(next).SelectMany(b => b), why!);
                    break;
                }

                reset = false;
            }

            var batch = batches[next];
            var progress = new SendProgress();
            var lost = false;
            try
            {
                var client = session.Client;
                await PipelinedSender.SendAsync(client, session.Recorder, envelope.Sender.Address, envelope.MailParameters(message.Facts, client.Capabilities, config.RequiresTls(message.Facts)),
                    batch.Select(j => envelope.Mailboxes[j].Address).ToList(), message, client.Capabilities.HasFlag(SmtpCapabilities.Pipelining),
                    client.Capabilities.HasFlag(SmtpCapabilities.Chunking), progress, cancellationToken, reset, beforeBody).ConfigureAwait(false);
            }
            catch (Exception e) when (OpeningFailures.IsConnectionFailure(e))
            {
                transcript?.WriteLine($"transaction {next + 1} of {batches.Count}: the connection failed ({e.GetType().Name})");
                lost = true;
            }

            session.Transactions++;
            var resetRefused = progress.Reset is { } r && !PipelinedSender.IsPositive(r);
            var nothingSent = resetRefused || (lost && progress.Stage < SmtpStage.Body);
            if (nothingSent && reuse && session == first && ledger.Settled == 0 && !cancellationToken.IsCancellationRequested)
            {
                // A cached connection that turned out dead before anything counted: the caller takes a fresh one.
                await session.QuitAsync().ConfigureAwait(false);
                return (new(Reports.ConnectionDied(ip, possibleDuplicate: false, []), TryNextAddress: true, ReuseFailed: true), false);
            }

            if (nothingSent && retried != next && !SettledBeforeLoss(progress, batch.Count))
            {
                // Nothing of this transaction counts: it goes again, once, on another connection (a server that drops
                // every connection there gets its recipients deferred, not ten connections).
                retried = next;
                await session.QuitAsync().ConfigureAwait(false);
                session = null;
                continue;
            }

            if (resetRefused || (lost && !SettledBeforeLoss(progress, batch.Count)))
            {
                ledger.Lost(batch, progress);
            }
            else
            {
                ledger.Settle(batch, progress, session.TlsSummary);
            }

            next++;
            reset = progress.Final is null;
            if (lost || resetRefused || progress is { Data.Code: 354, Final: null })
            {
                // Gone, or a data phase left open on purpose (nothing may follow on it): the next transaction needs another.
                await session.QuitAsync().ConfigureAwait(false);
                session = null;
            }
        }

        if (next < batches.Count && cancellationToken.IsCancellationRequested)
        {
            ledger.NotTried(batches.Skip(next).SelectMany(b => b), Reports.Stopped().Text);
        }

        var kept = false;
        if (session is not null)
        {
            // The last transaction's session: kept for the next delivery (a daemon's cache), else QUIT. Its transactions
            // are already counted.
            kept = sessionOptions?.Cache is { } cache && cache.TryPut(sessionOptions.Key, session);
            if (!kept)
            {
                await session.QuitAsync().ConfigureAwait(false);
            }
        }

        // The caller disposes the session it gave unless it is kept: one given up on here is already closed.
        return (new(ledger.Report(), TryNextAddress: false), kept && session == first);
    }

    /// <summary>The sender refused, or every recipient of the batch refused: those answers stand when the connection is
    /// lost after them (as for a single transaction, <see cref="TransactionVerdict.SettledBeforeLoss"/>).</summary>
    private static bool SettledBeforeLoss(SendProgress progress, int recipients) =>
        progress.Mail is { } m && (!PipelinedSender.IsPositive(m)
            || (progress.Recipients.Count >= recipients && !progress.Recipients.Any(PipelinedSender.IsPositive)));

    /// <summary>Another connection to <paramref name="destination"/> under the same TLS policy, through greeting, EHLO,
    /// STARTTLS and AUTH; or null and the text of why not (the recipients left are deferred with it).</summary>
    private async Task<(SmtpSession? Session, string? Why)> ReconnectAsync(Destination destination, Tls.TlsPolicy policy, CancellationToken cancellationToken)
    {
        transcript?.WriteLine($"another connection to {destination.Address}:{destination.Port} for the transactions left");
        ConnectResult connected;
        try
        {
            connected = await Connector.ConnectAsync(new IPEndPoint(destination.Address, destination.Port), TimeSpan.FromSeconds(config.TimeoutConnect),
                cancellationToken, config.OutgoingIps).ConfigureAwait(false);
        }
        catch (Exception e) when (OpeningFailures.IsConnectionFailure(e))
        {
            // Stopped by a signal while connecting: what the earlier transactions achieved stands in the report.
            return (null, Reports.NoConnection().Text);
        }

        if (connected.Socket is null)
        {
            transcript?.WriteLine($"connect: {connected.Error}");
            return (null, Reports.NoConnection().Text);
        }

        var session = NewSession(connected.Socket);
        if (await OpenAsync(session, destination, policy, new SendProgress { Stage = SmtpStage.Greeting }, cancellationToken).ConfigureAwait(false) is { } failed)
        {
            session.Dispose();
            return (null, failed.Report.Text);
        }

        if (config.RequiresTls(message.Facts) && !(session.Client.IsSecure && session.Client.Capabilities.HasFlag(SmtpCapabilities.RequireTLS)))
        {
            // REQUIRETLS (RFC 8689), as for the first connection: the new one must offer it inside TLS too.
            await session.QuitAsync().ConfigureAwait(false);
            return (null, Reports.RequireTlsNotOffered(destination.Address).Text);
        }

        return (session, null);
    }
}
