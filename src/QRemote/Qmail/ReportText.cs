using System.Text;

namespace QRemote.Qmail;

/// <summary>
/// The one choke point every byte of report text passes through. qmail-send copies these texts
/// into bounce messages and logs, so they must be valid UTF-8 with no control characters but
/// newline (netqmail passes raw bytes through; we do not), and never contain a NUL, which
/// would end the report early.
/// </summary>
internal static class ReportText
{
    /// <summary>Server text kept per report, as netqmail's 5000-byte smtptext buffer.</summary>
    public const int MaxServerTextBytes = 5000;

    /// <summary>Replaces every control character except newline, and every unpaired surrogate or
    /// replacement character (an undecodable byte), with <c>?</c>.</summary>
    public static string Sanitize(string text)
    {
        if (IsClean(text))
        {
            return text;
        }

        var builder = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(c).Append(text[i + 1]);
                i++;
            }
            else
            {
                builder.Append(IsSafe(c) ? c : '?');
            }
        }

        return builder.ToString();
    }

    /// <summary>Bytes as the server sent them, decoded for a report: UTF-8 where valid, <c>?</c> for
    /// each byte that is not, then sanitized.</summary>
    public static string FromWire(ReadOnlySpan<byte> bytes)
    {
        var builder = new StringBuilder(bytes.Length);
        while (!bytes.IsEmpty)
        {
            var status = System.Text.Rune.DecodeFromUtf8(bytes, out var rune, out var consumed);
            if (status == System.Buffers.OperationStatus.Done)
            {
                builder.Append(rune.ToString());
            }
            else
            {
                builder.Append('?');
            }

            bytes = bytes[Math.Max(consumed, 1)..];
        }

        return Sanitize(builder.ToString());
    }

    /// <summary>Cuts text to at most <paramref name="maxBytes"/> UTF-8 bytes without splitting a character.</summary>
    public static string Truncate(string text, int maxBytes)
    {
        if (Encoding.UTF8.GetByteCount(text) <= maxBytes)
        {
            return text;
        }

        var bytes = 0;
        var end = 0;
        while (end < text.Length)
        {
            var width = char.IsHighSurrogate(text[end]) && end + 1 < text.Length && char.IsLowSurrogate(text[end + 1]) ? 2 : 1;
            var size = Encoding.UTF8.GetByteCount(text.AsSpan(end, width));
            if (bytes + size > maxBytes)
            {
                break;
            }

            bytes += size;
            end += width;
        }

        return text[..end];
    }

    private static bool IsClean(string text)
    {
        foreach (var c in text)
        {
            if (!IsSafe(c))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsSafe(char c) =>
        c == '\n' || (c >= ' ' && c != '\x7f' && !(c >= '\x80' && c <= '\x9f') && c != '\uFFFD' && !char.IsSurrogate(c));
}
