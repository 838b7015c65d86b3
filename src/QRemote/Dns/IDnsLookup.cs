using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;

namespace QRemote.Dns;

/// <summary>Asks one question of the configured resolvers.</summary>
internal interface IDnsLookup
{
    Task<DnsAnswer> QueryAsync(DomainName name, RecordType type, CancellationToken cancellationToken);
}
