using System.Net;
using System.Net.NetworkInformation;

namespace QRemote.Dns;

/// <summary>
/// "Is this address me?" as netqmail's ipme asks it: the exact addresses configured on this
/// host's interfaces (not their subnets: 127.0.0.2 is not this host just because lo holds
/// 127.0.0.1/8), plus 0.0.0.0 and ::. Enumerated only when an MX answer needs the check.
/// </summary>
public interface ILocalAddresses
{
    bool IsLocal(IPAddress address);
}

/// <summary>The interfaces of this host, read once on first use.</summary>
public sealed class HostLocalAddresses : ILocalAddresses
{
    private readonly Lazy<HashSet<IPAddress>> _addresses = new(Read);

    public bool IsLocal(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
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

/// <summary>A fixed set, for tests.</summary>
public sealed class FixedLocalAddresses(params IPAddress[] addresses) : ILocalAddresses
{
    private readonly HashSet<IPAddress> _set = [IPAddress.Any, IPAddress.IPv6Any, .. addresses];

    public bool IsLocal(IPAddress address) => _set.Contains(address);
}
