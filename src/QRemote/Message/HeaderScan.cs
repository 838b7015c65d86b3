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
    public static bool TlsRequiredNo(ReadOnlySpan<byte> head)
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

            found |= IsNo(field);
            field = Encoding.Latin1.GetString(line);
        }

        return found || IsNo(field);
    }

    private static bool IsNo(string? field)
    {
        const string Name = "TLS-Required:";
        return field is not null && field.StartsWith(Name, StringComparison.OrdinalIgnoreCase)
            && field[Name.Length..].Trim().Equals("No", StringComparison.OrdinalIgnoreCase);
    }

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
