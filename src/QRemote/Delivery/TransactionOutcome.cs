using QRemote.Qmail;

namespace QRemote.Delivery;

/// <summary>What one connection achieved: the report, and whether the next address may be tried
/// (nothing was handed over yet: greeting or EHLO/HELO refused, or the connection lost before MAIL).</summary>
/// <param name="ReuseFailed">A cached connection failed before anything that counts was sent: use a fresh one.</param>
/// <param name="Refusal">This server definitely cannot take the message, for a reason another may not have (its
/// <paramref name="Report"/> is the D to give if every exchanger says the same); next address tried.</param>
internal sealed record TransactionOutcome(DeliveryReport Report, bool TryNextAddress, bool RetryWithoutTls = false, string Tls = "none", bool ReuseFailed = false,
    ExchangerRefusal Refusal = ExchangerRefusal.None)
{
    /// <summary>For TLS reporting: how the TLS session under a DANE or MTA-STS policy ended (success or the RFC 8460 failure,
    /// decided where it was seen); null when the connection had no such session to report.</summary>
    public QRemote.Tls.TlsReportResult? TlsReport { get; init; }
}
