namespace QRemote.Qmail;

/// <summary>
/// The whole status report of one invocation: recipient reports in argv order (none when the
/// delivery failed before any RCPT), then exactly one message report. Built once, written once.
/// </summary>
internal sealed record DeliveryReport(IReadOnlyList<RecipientReport> Recipients, MessageLetter Letter, string Text)
{
    /// <summary>A report that ends the delivery before any recipient was tried.</summary>
    public static DeliveryReport MessageOnly(MessageLetter letter, string text) => new([], letter, text);
}
