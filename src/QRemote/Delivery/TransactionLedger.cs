using System.Net;
using QRemote.Qmail;
using QRemote.Smtp;

namespace QRemote.Delivery;

/// <summary>
/// The outcome of each mailbox of a delivery split into several transactions (<see cref="TransactionBatches"/>), and
/// the one report qmail-remote gives for it all.
/// <para>qmail's reader of the report (netqmail's qmail-rspawn) decides a recipient from its own letter and the message
/// letter: <c>s</c> is deferred and <c>h</c> failed whatever the message letter says; only an <c>r</c> takes the message
/// letter (<c>K</c> delivered, <c>Z</c> deferred, <c>D</c> failed). One message letter cannot tell two transactions apart,
/// so with several of them each recipient's letter carries its own transaction's end: <c>r</c> only for a recipient
/// whose transaction got a 2xx after the message; accepted at RCPT but the message then refused or lost, <c>s</c> (4xx,
/// any doubt) or <c>h</c> (5xx), with that transaction's text. The message letter is then <c>K</c> when any transaction
/// delivered (so every <c>r</c> reads as delivered), else <c>D</c> when every recipient is <c>h</c>, else <c>Z</c>. No
/// recipient is delivered and reported deferred (a duplicate later), none reported delivered that was not.</para>
/// </summary>
internal sealed class TransactionLedger(Envelope envelope, IPAddress ip)
{
    private readonly RecipientReport?[] _mailboxes = new RecipientReport?[envelope.Mailboxes.Count];
    private SmtpReply? _delivered;
    private string _deliveredTls = "";
    private string _lastText = "";

    /// <summary>Transactions whose outcome is recorded.</summary>
    public int Settled { get; private set; }

    /// <summary>A transaction whose replies are in (or whose answers stood before the connection was lost).</summary>
    /// <param name="tlsSummary">Its connection's TLS, the last line of a K text (<see cref="ClientTls.Summary"/>).</param>
    public void Settle(IReadOnlyList<int> batch, SendProgress progress, string tlsSummary)
    {
        Settled++;
        var mail = progress.Mail!;
        if (!PipelinedSender.IsPositive(mail))
        {
            _lastText = Reports.SenderRejected(ip) + Reports.RemoteHostSaid(mail.Lines);
            var refused = new RecipientReport(LetterFor(mail.Code), _lastText);
            foreach (var j in batch)
            {
                _mailboxes[j] = refused;
            }

            return;
        }

        var last = progress.Final ?? progress.Data;
        var afterMessage = progress.Final is not null;
        var delivered = afterMessage && PipelinedSender.IsPositive(last!);
        _lastText = !progress.Recipients.Any(PipelinedSender.IsPositive) ? Reports.GivingUp(ip, []).Text
            : (delivered ? Reports.Accepted(ip) : afterMessage ? Reports.FailedAfterMessage(ip) : Reports.DataFailed(ip)) + Reports.RemoteHostSaid(last!.Lines);
        if (delivered)
        {
            _delivered = last;
            _deliveredTls = tlsSummary;
        }

        for (var k = 0; k < batch.Count; k++)
        {
            var reply = progress.Recipients[k];
            _mailboxes[batch[k]] = !PipelinedSender.IsPositive(reply) ? Envelope.FromRcptReply(reply, ip)
                : delivered ? RecipientReport.Accepted
                : new RecipientReport(LetterFor(last!.Code), _lastText);
        }
    }

    /// <summary>A transaction whose connection was lost with the outcome unknown: its accepted recipients are deferred
    /// ("Possible duplicate!" once the dot was sent), those refused keep their answer.</summary>
    public void Lost(IReadOnlyList<int> batch, SendProgress progress)
    {
        Settled++;
        _lastText = Reports.ConnectionDied(ip, progress.Stage == SmtpStage.AfterDot, []).Text;
        var died = new RecipientReport(RecipientLetter.Deferred, _lastText);
        for (var k = 0; k < batch.Count; k++)
        {
            _mailboxes[batch[k]] = k >= progress.Recipients.Count ? Reports.NoAnswerForRecipient(ip)
                : PipelinedSender.IsPositive(progress.Recipients[k]) ? died
                : Envelope.FromRcptReply(progress.Recipients[k], ip);
        }
    }

    /// <summary>Mailboxes whose transaction never started (no connection could take it): deferred, with why.</summary>
    public void NotTried(IEnumerable<int> mailboxes, string why)
    {
        _lastText = why;
        var deferred = new RecipientReport(RecipientLetter.Deferred, why);
        foreach (var j in mailboxes)
        {
            _mailboxes[j] ??= deferred;
        }
    }

    /// <summary>The report: every argv recipient in order, then K when any transaction delivered (its text the last
    /// delivering transaction's, with its connection's TLS), else D when every recipient failed permanently, else Z. A
    /// mailbox with no outcome recorded is deferred.</summary>
    public DeliveryReport Report()
    {
        var perMailbox = _mailboxes.Select(r => r ?? Reports.NoAnswerForRecipient(ip)).ToList();
        var recipients = envelope.RecipientReports(perMailbox);
        if (_delivered is { } delivered)
        {
            return new(recipients, MessageLetter.Delivered, Reports.Accepted(ip) + Reports.RemoteHostSaid(delivered.Lines) + _deliveredTls);
        }

        var letter = recipients.All(r => r.Letter == RecipientLetter.Rejected) ? MessageLetter.Failed : MessageLetter.Deferred;
        return new(recipients, letter, _lastText);
    }

    private static RecipientLetter LetterFor(int code) => code is >= 500 and < 600 ? RecipientLetter.Rejected : RecipientLetter.Deferred;
}
