using QRemote.Qmail;

namespace QRemote.Delivery;

/// <summary>What one connection achieved: the report, and whether the next address may be tried
/// (nothing was handed over yet: greeting or EHLO/HELO refused, or the connection lost before MAIL).</summary>
/// <param name="ReuseFailed">A cached connection failed before anything that counts was sent: use a fresh one.</param>
internal sealed record TransactionOutcome(DeliveryReport Report, bool TryNextAddress, bool RetryWithoutTls = false, string Tls = "none", bool ReuseFailed = false);
