namespace QRemote.Qmail;

/// <summary>What the table says about an address before a connection attempt.</summary>
/// <param name="Skip">Do not try this address now: it timed out at least twice, recently.</param>
/// <param name="Timeouts">Its count of recent connect timeouts (0 when it is not in the table).</param>
/// <param name="SecondsSinceLast">Seconds since its last recorded timeout (0 when it is not in the table).</param>
internal readonly record struct TcpToCheck(bool Skip, int Timeouts, long SecondsSinceLast);
