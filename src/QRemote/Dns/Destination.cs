using System.Net;

namespace QRemote.Dns;

/// <summary>One address to try, in order, with the mail exchanger it came from.</summary>
/// <param name="Address">Where to connect.</param>
/// <param name="Port">25, an smtproutes port, or the test override.</param>
/// <param name="ExchangerName">The MX name (or relay, or literal) this address belongs to: TLS's SNI and certificate name.</param>
/// <param name="Preference">The MX preference (0 for implicit MX, relays and literals).</param>
/// <param name="MxSecure">The MX answer was DNSSEC-validated (the AD bit): DANE needs it.</param>
/// <param name="AddressSecure">The exchanger's A and AAAA answers were DNSSEC-validated (from their own queries: an
/// additional section is not covered by the AD bit): DANE needs it too (RFC 7672 2.2).</param>
internal sealed record Destination(IPAddress Address, int Port, string ExchangerName, int Preference, bool MxSecure, bool AddressSecure = false);
