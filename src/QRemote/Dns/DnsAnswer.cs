using ARSoft.Tools.Net.Dns;

namespace QRemote.Dns;

/// <summary>How one DNS query ended, from a mail sender's point of view.</summary>
public enum DnsStatus
{
    /// <summary>NOERROR: the answer section may still hold nothing of the asked type (NODATA).</summary>
    Ok,
    /// <summary>NXDOMAIN: the name does not exist (permanent).</summary>
    NoSuchName,
    /// <summary>SERVFAIL, REFUSED, a timeout, a malformed or unmatched answer: ask again later.</summary>
    TemporaryFailure,
}

/// <summary>One answer, as received. <see cref="Authentic"/> is the AD bit (the resolver validated it).</summary>
public sealed record DnsAnswer(DnsStatus Status, DnsMessage? Message, string Detail)
{
    public bool Authentic => Message?.IsAuthenticData ?? false;

    public static DnsAnswer Temporary(string detail) => new(DnsStatus.TemporaryFailure, null, detail);
}
