using QRemote.Daemon;
using QRemote.Dns;

namespace QRemote.Delivery;

/// <summary>What the daemon shares between deliveries; null for a delivery of its own.</summary>
internal sealed record SharedServices(DnsCache Dns, ConnectionCache Connections, Func<Task>? BeforeBody);
