using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Text;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// The files decoded from their layouts alone, independently of QRemote: qmail's (16-byte records:
/// address 0-3 in network order, count at 4, time 8-11 little-endian) and ours for IPv6 (32-byte
/// records: address 0-15, count at 16, time 24-31 little-endian).
/// </summary>
internal static class TcpToFile
{
    /// <summary>The records with a count (those qmail-tcpto lists); with <paramref name="free"/>, also
    /// those with no count but some address or time left in them.</summary>
    public static IReadOnlyList<TcpToEntry> Ipv4(string path, bool free = false)
    {
        var bytes = File.ReadAllBytes(path);
        var list = new List<TcpToEntry>();
        for (var i = 0; i < Math.Min(bytes.Length, 1024) / 16; i++)
        {
            var r = bytes.AsSpan(i * 16, 16);
            if (r[4] != 0 || (free && r.ContainsAnyExcept((byte)0)))
            {
                list.Add(new TcpToEntry(i, new IPAddress(r[..4]), r[4], r[8] + (r[9] << 8) + (r[10] << 16) + ((long)r[11] << 24)));
            }
        }

        return list;
    }

    public static IReadOnlyList<TcpToEntry> Ipv6(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var list = new List<TcpToEntry>();
        for (var i = 0; i < bytes.Length / 32; i++)
        {
            var r = bytes.AsSpan(i * 32, 32);
            if (r[16] != 0)
            {
                list.Add(new TcpToEntry(i, new IPAddress(r[..16]), r[16], BinaryPrimitives.ReadInt64LittleEndian(r[24..])));
            }
        }

        return list;
    }

    /// <summary>Writes a 1024-byte qmail file holding these records (count 0 ones included, as free records with an address).</summary>
    public static void WriteIpv4(string path, IEnumerable<TcpToEntry> records)
    {
        var bytes = new byte[1024];
        foreach (var e in records)
        {
            var r = bytes.AsSpan(e.Index * 16, 16);
            e.Address.GetAddressBytes().CopyTo(r);
            r[4] = (byte)e.Count;
            r[8] = (byte)e.When;
            r[9] = (byte)(e.When >> 8);
            r[10] = (byte)(e.When >> 16);
            r[11] = (byte)(e.When >> 24);
        }

        File.WriteAllBytes(path, bytes);
    }

    /// <summary>What qmail-tcpto prints for the file at time <paramref name="now"/>: one line per record with a count.</summary>
    public static string QmailTcpToListing(string path, long now)
    {
        var text = new StringBuilder();
        foreach (var e in Ipv4(path))
        {
            text.Append(CultureInfo.InvariantCulture, $"{e.Address} timed out {now - e.When} seconds ago; # recent timeouts: {e.Count}\n");
        }

        return text.ToString();
    }
}
