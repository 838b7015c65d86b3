using System.Net;

namespace QRemote.Delivery;

/// <summary>One address tried: where, and how it ended (connect error, or the transaction's letter).</summary>
internal sealed record AddressAttempt(IPAddress Address, int Port, string Exchanger, int Preference, string Outcome);
