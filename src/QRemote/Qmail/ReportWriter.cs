using System.Text;

namespace QRemote.Qmail;

/// <summary>
/// Writes a <see cref="DeliveryReport"/> in the form qmail-rspawn reads: each report a letter,
/// its text and a NUL; recipient reports in argv order, then one message report. The bytes are
/// produced in one buffer and written with one call, so a reader never sees half a report.
/// </summary>
internal static class ReportWriter
{
    /// <summary>The exact bytes qmail-rspawn expects.</summary>
    public static byte[] Format(DeliveryReport report)
    {
        var output = new MemoryStream();
        foreach (var recipient in report.Recipients)
        {
            Append(output, (char)recipient.Letter, recipient.Text);
        }

        Append(output, (char)report.Letter, report.Text);
        return output.ToArray();
    }

    /// <summary>A report back from the bytes <see cref="Format"/> made (the daemon sends them to its client); null
    /// when they are not such a report.</summary>
    public static DeliveryReport? Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty || bytes[^1] != 0)
        {
            return null;
        }

        var entries = new List<(char Letter, string Text)>();
        while (!bytes.IsEmpty)
        {
            var end = bytes.IndexOf((byte)0);
            if (end < 1)
            {
                return null;
            }

            entries.Add(((char)bytes[0], Encoding.UTF8.GetString(bytes[1..end])));
            bytes = bytes[(end + 1)..];
        }

        var (letter, text) = entries[^1];
        if (letter is not ('K' or 'Z' or 'D'))
        {
            return null;
        }

        // Loops, not LINQ over the tuples: in the AOT binary that resolved generic virtual methods at run time, 6% of
        // the process that hands a delivery over (perf; docs/performance.md).
        var recipients = new List<RecipientReport>(entries.Count - 1);
        for (var i = 0; i < entries.Count - 1; i++)
        {
            if (entries[i].Letter is not ('r' or 'h' or 's'))
            {
                return null;
            }

            recipients.Add(new RecipientReport((RecipientLetter)entries[i].Letter, entries[i].Text));
        }

        return new DeliveryReport(recipients, (MessageLetter)letter, text);
    }

    /// <summary>The same report for a person at a terminal: one line per report, NULs left out.</summary>
    public static string FormatForTerminal(DeliveryReport report, IReadOnlyList<string> recipients)
    {
        var text = new StringBuilder();
        for (var i = 0; i < report.Recipients.Count; i++)
        {
            var r = report.Recipients[i];
            AppendForTerminal(text, (char)r.Letter, $"<{(i < recipients.Count ? ReportText.Sanitize(recipients[i]) : "?")}>", r.Text);
        }

        AppendForTerminal(text, (char)report.Letter, "message", report.Text);
        return text.ToString();
    }

    /// <summary>One report for a person: the letter, what it is about, the verdict in words, the text indented.</summary>
    private static void AppendForTerminal(StringBuilder text, char letter, string subject, string body)
    {
        var verdict = letter switch
        {
            (char)RecipientLetter.Accepted => "accepted",
            (char)RecipientLetter.Rejected => "rejected (permanent)",
            (char)RecipientLetter.Deferred => "deferred (temporary)",
            (char)MessageLetter.Delivered => "delivered",
            (char)MessageLetter.Failed => "failed permanently (qmail would bounce)",
            _ => "deferred (qmail would retry)",
        };
        text.Append(CultureInvariant($"{letter} {subject} {verdict}"));
        AppendIndented(text, ReportText.Sanitize(body));
    }

    private static void Append(MemoryStream output, char letter, string text)
    {
        output.WriteByte((byte)letter);
        var bytes = Encoding.UTF8.GetBytes(ReportText.Sanitize(text));
        output.Write(bytes);
        output.WriteByte(0);
    }

    private static void AppendIndented(StringBuilder text, string body)
    {
        text.Append('\n');
        foreach (var line in body.TrimEnd('\n').Split('\n'))
        {
            if (line.Length > 0)
            {
                text.Append("    ").Append(line).Append('\n');
            }
        }
    }

    private static string CultureInvariant(FormattableString s) => FormattableString.Invariant(s);
}
