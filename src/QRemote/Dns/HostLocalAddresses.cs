using System.Net;
using System.Net.NetworkInformation;
using System.Runtime.InteropServices;
using QRemote.Posix;

namespace QRemote.Dns;

/// <summary>The interfaces' addresses of this host, read once on first use.</summary>
internal sealed class HostLocalAddresses : ILocalAddresses
{
    private readonly Lazy<HashSet<IPAddress>> _addresses = new(Read);

    public bool IsLocal(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return _addresses.Value.Contains(address);
    }

    /// <summary>
    /// getifaddrs(3) itself, the list <see cref="NetworkInterface.GetAllNetworkInterfaces"/> is made from. That API
    /// also read, for each interface's <c>GetIPProperties()</c>, routes, DNS servers and sysctls from a dozen files
    /// QRemote never looks at: 4% of an MX delivery's CPU (perf), for the one question "is this address mine?".
    /// </summary>
    internal static unsafe HashSet<IPAddress> Read()
    {
        // Without the list the self check cannot be made: NetworkInformationException propagates, and the
        // delivery is deferred as netqmail defers it ("System resources temporarily unavailable").
        var set = new HashSet<IPAddress> { IPAddress.Any, IPAddress.IPv6Any };
        Libc.IfAddrs* list;
        if (Libc.GetIfAddrs(&list) != 0)
        {
            throw new NetworkInformationException(Marshal.GetLastPInvokeError());
        }

        try
        {
            for (var entry = list; entry != null; entry = entry->Next)
            {
                var sockaddr = entry->Address;
                if (sockaddr == null)
                {
                    continue;
                }

                // sockaddr_in: the address at offset 4; sockaddr_in6: at offset 8. The scope id is left out, as
                // an address from DNS carries none (a link-local address with one would never be equal to it).
                var family = *(ushort*)sockaddr;
                if (family == Libc.AfInet)
                {
                    set.Add(new IPAddress(new ReadOnlySpan<byte>(sockaddr + 4, 4)));
                }
                else if (family == Libc.AfInet6)
                {
                    set.Add(new IPAddress(new ReadOnlySpan<byte>(sockaddr + 8, 16)));
                }
            }
        }
        finally
        {
            Libc.FreeIfAddrs(list);
        }

        return set;
    }
}
