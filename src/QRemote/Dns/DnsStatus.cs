namespace QRemote.Dns;

/// <summary>How one DNS query ended, from a mail sender's point of view.</summary>
internal enum DnsStatus
{
    /// <summary>NOERROR: the answer section may still hold nothing of the asked type (NODATA).</summary>
    Ok,
    /// <summary>NXDOMAIN: the name does not exist (permanent).</summary>
    NoSuchName,
    /// <summary>SERVFAIL, REFUSED, a timeout, a malformed or unmatched answer: ask again later.</summary>
    TemporaryFailure,
}
