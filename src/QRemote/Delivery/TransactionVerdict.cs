using System.Net;
using QRemote.Qmail;
using QRemote.Smtp;

namespace QRemote.Delivery;

/// <summary>The server's answers to a transaction, as qmail-remote's letters: K only after the 2xx to the message,
/// D only on a 5xx, everything else Z; each recipient by its RCPT reply.</summary>
internal static class TransactionVerdict
{
    /// <summary>The report for a transaction whose replies are all in: the sender refused, every recipient refused,
    /// or the last word (the reply after the dot or to BDAT LAST, else the refusal of DATA).</summary>
    /// <param name="tlsSummary">The last line of a K text: the TLS the message went over (<see cref="ClientTls.Summary"/>).</param>
    public static DeliveryReport From(SendProgress progress, Envelope envelope, IPAddress ip, string tlsSummary)
    {
        var mail = progress.Mail!;
        if (!PipelinedSender.IsPositive(mail))
        {
            return DeliveryReport.MessageOnly(mail.Code >= 500 ? MessageLetter.Failed : MessageLetter.Deferred,
                Reports.SenderRejected(ip) + Reports.RemoteHostSaid(mail.Lines));
        }

        if (!progress.Recipients.Any(PipelinedSender.IsPositive))
        {
            return Reports.GivingUp(ip, envelope.RecipientReports(progress, ip));
        }

        var last = progress.Final ?? progress.Data!;
        var afterMessage = progress.Final is not null;
        var letter = last.Code is >= 200 and < 300 && afterMessage ? MessageLetter.Delivered
            : last.Code is >= 500 and < 600 ? MessageLetter.Failed
            : MessageLetter.Deferred;
        var what = letter == MessageLetter.Delivered ? Reports.Accepted(ip)
            : afterMessage ? Reports.FailedAfterMessage(ip) : Reports.DataFailed(ip);
        return new(envelope.RecipientReports(progress, ip), letter,
            what + Reports.RemoteHostSaid(last.Lines) + (letter == MessageLetter.Delivered ? tlsSummary : ""));
    }

    /// <summary>A connection lost after the server refused the sender, or every recipient, loses nothing: those answers
    /// stand (a 421 to RCPT and a close, say). Otherwise the outcome is unknown.</summary>
    public static bool SettledBeforeLoss(SendProgress progress, Envelope envelope) =>
        progress.Mail is { } m && (!PipelinedSender.IsPositive(m)
            || (AllRecipientsAnswered(progress, envelope) && !progress.Recipients.Any(PipelinedSender.IsPositive)));

    /// <summary>The report for a connection lost with the outcome unknown: "Possible duplicate!" once the dot was sent.</summary>
    public static DeliveryReport Lost(SendProgress progress, Envelope envelope, IPAddress ip) =>
        Reports.ConnectionDied(ip, progress.Stage == SmtpStage.AfterDot,
            AllRecipientsAnswered(progress, envelope) ? envelope.RecipientReports(progress, ip) : []);

    private static bool AllRecipientsAnswered(SendProgress progress, Envelope envelope) => progress.Recipients.Count >= envelope.Mailboxes.Count;
}
