namespace QRemote.Qmail;

/// <summary>What qmail-remote says about one recipient (one argv position).</summary>
internal sealed record RecipientReport(RecipientLetter Letter, string Text)
{
    public static RecipientReport Accepted { get; } = new(RecipientLetter.Accepted, "");
}
