using System.Net;
using QRemote.Dns;

namespace QRemote.Tests.Infrastructure;

/// <summary>"This host" as a fixed set of addresses (besides 0.0.0.0 and ::), for tests.</summary>
public sealed class FixedLocalAddresses(params IPAddress[] addresses) : ILocalAddresses
{
    private readonly HashSet<IPAddress> _set = [IPAddress.Any, IPAddress.IPv6Any, .. addresses];

    public bool IsLocal(IPAddress address) => _set.Contains(address);
}
