namespace QRemote.Qmail;

/// <summary>qmail-remote's argv after any leading <c>--</c> options: <c>host sender recip...</c>, read by
/// position and never parsed as options (a sender may be <c>-x@y</c> or empty).</summary>
internal sealed record Invocation(string Host, string Sender, IReadOnlyList<string> Recipients)
{
    /// <summary>Null when there are fewer than three positional arguments.</summary>
    public static Invocation? FromPositional(IReadOnlyList<string> positional)
    {
        return positional.Count < 3 ? null : new Invocation(positional[0], positional[1], positional.Skip(2).ToArray());
    }
}
