using ARSoft.Tools.Net.Dns;

namespace QRemote.Dns;

/// <summary>One answer, as received. <see cref="Authentic"/> is the AD bit (the resolver validated it).</summary>
internal sealed record DnsAnswer(DnsStatus Status, DnsMessage? Message, string Detail)
{
    public bool Authentic => Message?.IsAuthenticData ?? false;

    public static DnsAnswer Temporary(string detail) => new(DnsStatus.TemporaryFailure, null, detail);
}
