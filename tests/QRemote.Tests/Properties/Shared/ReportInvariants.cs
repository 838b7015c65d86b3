using System.Text;
using QRemote.Qmail;

namespace QRemote.Tests.Properties;

/// <summary>A report built from arbitrary texts: recipients' letters and texts, then the message's.</summary>
internal sealed record ReportInput(RecipientLetter[] Letters, string[] Texts, MessageLetter Letter, string Text, string Host)
{
    public DeliveryReport ToReport() =>
        new([.. Letters.Select((l, i) => new RecipientReport(l, Texts[i]))], Letter, Text);

    public override string ToString() =>
        $"{(char)Letter} {Quote(Text)}; host {Quote(Host)}; recipients: {string.Join(", ", Letters.Select((l, i) => $"{(char)l} {Quote(Texts[i])}"))}";

    /// <summary>Every UTF-16 unit visible: lone surrogates and controls as \uXXXX.</summary>
    public static string Quote(string s)
    {
        var b = new StringBuilder("\"");
        foreach (var c in s)
        {
            if (c is >= ' ' and < '\x7f' && c != '\\' && c != '"')
            {
                b.Append(c);
            }
            else
            {
                b.Append(FormattableString.Invariant($"\\u{(int)c:x4}"));
            }
        }

        return b.Append('"').ToString();
    }
}

/// <summary>
/// What qmail-rspawn reads must be well formed whatever the texts were. For <see cref="ReportWriter.Format"/>:
/// exactly (recipients + 1) NUL bytes, the last byte a NUL, each report its letter then its text, each text
/// valid UTF-8 with no control character but newline (no C0, DEL or C1, no U+FFFD left by a bad byte, no
/// surrogate), and a text that was clean already comes through unchanged. Also: the terminal form, the
/// "Remote host said" cut at 5000 bytes, netqmail's outsafe, and decoding server bytes.
/// </summary>
internal static class ReportInvariants
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static void Check(ReportInput input)
    {
        var report = input.ToReport();
        CheckBytes(report, ReportWriter.Format(report));

        var terminal = ReportWriter.FormatForTerminal(report, input.Texts);
        CheckClean(terminal, "terminal form");

        var said = Reports.RemoteHostSaid(input.Text);
        if (input.Text.Length == 0 ? said.Length != 0 : !said.StartsWith("Remote host said: ", StringComparison.Ordinal) || !said.EndsWith('\n'))
        {
            throw new InvariantException($"RemoteHostSaid: {ReportInput.Quote(said)}");
        }

        if (said.Length > 0)
        {
            var kept = said["Remote host said: ".Length..];
            if (!input.Text.StartsWith(kept.TrimEnd('\n'), StringComparison.Ordinal) || Encoding.UTF8.GetByteCount(kept) > ReportText.MaxServerTextBytes + 1)
            {
                throw new InvariantException($"RemoteHostSaid kept {Encoding.UTF8.GetByteCount(kept)} bytes, not a prefix: {ReportInput.Quote(kept)}");
            }
        }

        foreach (var max in new[] { 0, 1, 2, 3, 4, input.Text.Length / 2, input.Text.Length % (ReportText.MaxServerTextBytes + 1), ReportText.MaxServerTextBytes })
        {
            CheckTruncate(input.Text, max);
        }

        foreach (var failure in new[] { Reports.NoSuchHost(input.Host), Reports.NullMx(input.Host) })
        {
            var hostPart = failure.Text[(failure.Text.IndexOf(' ', StringComparison.Ordinal) + 1)..];
            if (failure.Letter != MessageLetter.Failed || failure.Text.Any(c => c != '\n' && c is < ' ' or > '~'))
            {
                throw new InvariantException($"outsafe let through: {ReportInput.Quote(failure.Text)} ({hostPart.Length})");
            }

            CheckBytes(failure, ReportWriter.Format(failure));
        }

        var wire = Encoding.Latin1.GetBytes(input.Text.Select(c => (char)(c & 0xff)).ToArray());
        var decoded = ReportText.FromWire(wire);
        CheckClean(decoded, "FromWire");
        if (Encoding.UTF8.GetByteCount(decoded) > wire.Length)
        {
            throw new InvariantException($"FromWire grew {wire.Length} bytes to {Encoding.UTF8.GetByteCount(decoded)}");
        }
    }

    public static void CheckBytes(DeliveryReport report, byte[] bytes)
    {
        var nuls = bytes.Count(b => b == 0);
        if (nuls != report.Recipients.Count + 1 || bytes.Length == 0 || bytes[^1] != 0)
        {
            throw new InvariantException($"{nuls} NULs for {report.Recipients.Count} recipients (last byte {(bytes.Length == 0 ? "none" : bytes[^1].ToString(System.Globalization.CultureInfo.InvariantCulture))}): {Hex.Of(bytes)}");
        }

        var start = 0;
        for (var i = 0; i <= report.Recipients.Count; i++)
        {
            var end = Array.IndexOf(bytes, (byte)0, start);
            var letter = i < report.Recipients.Count ? (char)report.Recipients[i].Letter : (char)report.Letter;
            var given = i < report.Recipients.Count ? report.Recipients[i].Text : report.Text;
            if (end <= start || bytes[start] != (byte)letter)
            {
                throw new InvariantException($"report {i} does not start with its letter {letter}: {Hex.Of(bytes)}");
            }

            var segment = bytes.AsSpan(start + 1, end - start - 1);
            string text;
            try
            {
                text = Strict.GetString(segment);
            }
            catch (DecoderFallbackException e)
            {
                throw new InvariantException($"report {i} is not UTF-8: {Hex.Of(segment)}", e);
            }

            foreach (var b in segment)
            {
                if (b < 0x20 && b != (byte)'\n')
                {
                    throw new InvariantException($"report {i} has byte 0x{b:x2}: {Hex.Of(segment)}");
                }
            }

            CheckClean(text, $"report {i}");
            if (IsClean(given) && text != given)
            {
                throw new InvariantException($"clean text changed: {ReportInput.Quote(given)} became {ReportInput.Quote(text)}");
            }

            // Sanitizing replaces unit for unit (a pair stays a pair): nothing is dropped or added.
            if (text.Length != given.Length)
            {
                throw new InvariantException($"text of {given.Length} UTF-16 units became {text.Length}: {ReportInput.Quote(given)} -> {ReportInput.Quote(text)}");
            }

            start = end + 1;
        }
    }

    /// <summary>Valid UTF-16 (no lone surrogate), and no control character but newline, no U+FFFD.</summary>
    public static void CheckClean(string text, string what)
    {
        if (!IsClean(text))
        {
            throw new InvariantException($"{what} is not clean: {ReportInput.Quote(text)}");
        }
    }

    public static bool IsClean(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }

            if (char.IsSurrogate(c) || (c < ' ' && c != '\n') || c == '\x7f' || c is >= '\x80' and <= '\x9f' || c == '\ufffd')
            {
                return false;
            }
        }

        return true;
    }

    private static void CheckTruncate(string text, int max)
    {
        var cut = ReportText.Truncate(text, max);
        if (!text.StartsWith(cut, StringComparison.Ordinal))
        {
            throw new InvariantException($"Truncate({max}) is not a prefix: {ReportInput.Quote(cut)}");
        }

        if (Encoding.UTF8.GetByteCount(cut) > max)
        {
            throw new InvariantException($"Truncate({max}) kept {Encoding.UTF8.GetByteCount(cut)} bytes");
        }

        if (cut.Length > 0 && cut.Length < text.Length && char.IsHighSurrogate(cut[^1]) && char.IsLowSurrogate(text[cut.Length]))
        {

            throw new InvariantException($"Truncate({max}) split a surrogate pair at {cut.Length}");
        }
    }
}
