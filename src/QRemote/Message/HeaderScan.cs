using System.Text;

namespace QRemote.Message;

/// <summary>The few things QRemote reads in a message's header, which it otherwise never parses.</summary>
internal static class HeaderScan
{
    /// <summary>
    /// RFC 8689 section 5: <c>TLS-Required: No</c> in the header asks that TLS policies (DANE, MTA-STS) not stop
    /// the delivery (a message about a broken TLS setup, say). <paramref name="head"/> is the start of the
    /// message; only the header (to the first empty line) is read, folded lines unfolded.
    /// </summary>
    public static bool TlsRequiredNo(ReadOnlySpan<byte> head) => Has(head, "TLS-Required:", "No");

    /// <summary>
    /// <c>Require-TLS-ESMTP: yes</c>: Postfix 3.11's smtpd writes it (<c>requiretls_esmtp_header</c>) for a message that
    /// came with MAIL's REQUIRETLS parameter (RFC 8689), which qmail's queue cannot carry. Only <c>yes</c> (in any case)
    /// counts: it is the one value Postfix writes, and anything else asks for nothing this program can name.
    /// </summary>
    public static bool RequireTlsEsmtp(ReadOnlySpan<byte> head) => Has(head, "Require-TLS-ESMTP:", "yes");

    /// <summary>Whether a field named <paramref name="name"/> (with its colon) has the value <paramref name="value"/>,
    /// both in any case, the value without the white space around it.</summary>
    private static bool Has(ReadOnlySpan<byte> head, string name, string value)
    {
        var found = false;
        string? field = null;
        foreach (var raw in Lines(head))
        {
            var line = raw.TrimEnd((byte)'\r');
            if (line.IsEmpty)
            {
                break;
            }

            if (line[0] is (byte)' ' or (byte)'\t')
            {
                field = field is null ? null : field + Encoding.Latin1.GetString(line);
                continue;
            }

            found |= Is(field, name, value);
            field = Encoding.Latin1.GetString(line);
        }

        return found || Is(field, name, value);
    }

    private static bool Is(string? field, string name, string value) =>
        field is not null && field.StartsWith(name, StringComparison.OrdinalIgnoreCase)
            && field[name.Length..].Trim().Equals(value, StringComparison.OrdinalIgnoreCase);

    private static List<byte[]> Lines(ReadOnlySpan<byte> head)
    {
        var lines = new List<byte[]>();
        while (!head.IsEmpty)
        {
            var end = head.IndexOf((byte)'\n');
            if (end < 0)
            {
                // The header goes on beyond what was read: its last line may be incomplete, so not used.
                break;
            }

            lines.Add(head[..end].ToArray());
            head = head[(end + 1)..];
        }

        return lines;
    }
}
