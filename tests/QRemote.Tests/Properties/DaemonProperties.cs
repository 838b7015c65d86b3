using System.Text;
using CsCheck;
using QRemote.Daemon;
using QRemote.Message;
using QRemote.Qmail;

namespace QRemote.Tests.Properties;

/// <summary>The daemon's frames and the report it sends back: what goes in comes out, and nothing a peer sends
/// (the socket is qmailr's own, but a bug there must not become a wrong report) makes them throw.</summary>
public sealed class DaemonProperties
{
    private static readonly Gen<string> Field = Gen.String[Gen.Char.Where(c => c != '\0' && !char.IsSurrogate(c)), 1, 40];

    private static readonly Gen<DaemonRequest> Requests =
        Gen.Select(Gen.Long[0, long.MaxValue], Field, Field, Gen.Int[1, 65535], Gen.Int[1, 65535], Field.Array[3, 12])
            .Select((start, home, resolv, smtp, https, positions) => new DaemonRequest(start, new DaemonSettings(home, resolv, smtp, https), positions));

    [Test]
    public void A_request_decodes_to_what_was_encoded() =>
        Requests.Sample(request =>
        {
            var decoded = DaemonProtocol.DecodeRequest(DaemonProtocol.EncodeRequest(request));
            Assert.That(decoded, Is.Not.Null);
            Assert.That(decoded!.Start, Is.EqualTo(request.Start));
            Assert.That(decoded.Settings, Is.EqualTo(request.Settings));
            Assert.That(decoded.Positions, Is.EqualTo(request.Positions));
        }, iter: 2000);

    /// <summary>A damaged frame is either refused (null) or a request that encodes back to exactly those bytes: the
    /// daemon never delivers something other than what a client sent.</summary>
    [Test]
    public void A_damaged_request_is_refused_or_exactly_what_its_bytes_say() =>
        Gen.Select(Requests, Gen.Int[0, 10_000], Gen.Byte).Sample((request, where, value) =>
        {
            var bytes = DaemonProtocol.EncodeRequest(request);
            bytes[where % bytes.Length] = value;
            if (DaemonProtocol.DecodeRequest(bytes) is { } decoded)
            {
                Assert.That(DaemonProtocol.EncodeRequest(decoded), Is.EqualTo(bytes));
                Assert.That(decoded.Positions, Has.Count.GreaterThanOrEqualTo(3));
            }
        }, iter: 5000);

    [Test]
    public void Arbitrary_bytes_are_no_request() =>
        Gen.Byte.Array[0, 200].Sample(bytes =>
        {
            Assert.That(DaemonProtocol.DecodeRequest(bytes), Is.Null, "without the QRD2 head");
            var oldVersion = bytes.Length >= 8 ? [.. "QRD1"u8, .. bytes[4..]] : bytes;
            Assert.That(DaemonProtocol.DecodeRequest(oldVersion), Is.Null, "another version's head is refused, never guessed at");
        }, iter: 5000, print: b => Hex.Of(b));

    [Test]
    public void A_report_parses_back_to_itself() =>
        HostileGen.ReportInputs.Sample(input =>
        {
            var report = input.ToReport();
            var bytes = ReportWriter.Format(report);
            var parsed = ReportWriter.Parse(bytes);
            Assert.That(parsed, Is.Not.Null);
            Assert.That(ReportWriter.Format(parsed!), Is.EqualTo(bytes), "the client writes exactly what the daemon formatted");
        }, iter: 2000, print: r => r.ToString());

    [Test]
    public void Tls_required_no_is_found_only_in_the_header() =>
        Gen.String[Gen.Char[' ', '~'], 0, 30].Array[0, 6].Sample(lines =>
        {
            var header = string.Join("\n", lines.Where(l => l.Length > 0 && !l.StartsWith("TLS-Required", StringComparison.OrdinalIgnoreCase) && l[0] != ' '));
            var message = header + (header.Length > 0 ? "\n" : "") + "\nTLS-Required: No\n";
            Assert.That(HeaderScan.TlsRequiredNo(Encoding.ASCII.GetBytes(message)), Is.False, "in the body it means nothing");
            Assert.That(HeaderScan.TlsRequiredNo(Encoding.ASCII.GetBytes("TLS-Required:\n  No\n" + message)), Is.True, "folded, in the header");
        }, iter: 2000);
}
