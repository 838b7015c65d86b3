using System.Net;

namespace QRemote.Dns;

/// <summary>The order in which one host's addresses are tried: IPv6 and IPv4 alternately, IPv6 first (RFC 8305),
/// each family in its answer's order.</summary>
internal static class AddressOrder
{
    public static List<IPAddress> Interleave(IReadOnlyList<IPAddress> v6, IReadOnlyList<IPAddress> v4)
    {
        var merged = new List<IPAddress>(v4.Count + v6.Count);
        for (var i = 0; i < Math.Max(v4.Count, v6.Count); i++)
        {
            if (i < v6.Count)
            {
                merged.Add(v6[i]);
            }

            if (i < v4.Count)
            {
                merged.Add(v4[i]);
            }
        }

        return merged;
    }
}
