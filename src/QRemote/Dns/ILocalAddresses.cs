using System.Net;

namespace QRemote.Dns;

/// <summary>
/// "Is this address me?" as netqmail's ipme asks it: the exact addresses configured on this
/// host's interfaces (not their subnets: 127.0.0.2 is not this host just because lo holds
/// 127.0.0.1/8), plus 0.0.0.0 and ::. Enumerated only when an MX answer needs the check.
/// </summary>
internal interface ILocalAddresses
{
    bool IsLocal(IPAddress address);
}
