using System.Net;
using System.Net.NetworkInformation;

namespace QRemote.Dns;

/// <summary>The interfaces of this host, read once on first use.</summary>
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

    private static HashSet<IPAddress> Read()
    {
        // Without the list the self check cannot be made: NetworkInformationException propagates, and the
        // delivery is deferred as netqmail defers it ("System resources temporarily unavailable").
        var set = new HashSet<IPAddress> { IPAddress.Any, IPAddress.IPv6Any };
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                var a = unicast.Address;
                // Scope ids make link-local addresses unequal to the same address from DNS.
                set.Add(a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? new IPAddress(a.GetAddressBytes()) : a);
            }
        }

        return set;
    }
}
