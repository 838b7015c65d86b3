namespace QRemote.Smtp;

/// <summary>One server reply as it came over the wire: its code (from the first line) and its lines with
/// their codes, CRs removed, each ending in a newline; kept text capped like qmail's 5000 bytes.</summary>
internal sealed record SmtpReply(int Code, string Lines)
{
    /// <summary>A reply rebuilt from MailKit's parsed form (code stripped, lines joined by newlines).</summary>
    public static SmtpReply FromMailKit(int code, string text)
    {
        var lines = text.Split('\n');
        var builder = new System.Text.StringBuilder();
        for (var i = 0; i < lines.Length; i++)
        {
            builder.Append(FormattableString.Invariant($"{code}{(i < lines.Length - 1 ? '-' : ' ')}{lines[i]}\n"));
        }

        return new SmtpReply(code, builder.ToString());
    }
}
