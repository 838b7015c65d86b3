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
    [Test]
    public void A_request_decodes_to_what_was_encoded() =>
        Gen.Select(Gen.Long[0, long.MaxValue], Gen.String[Gen.Char.AlphaNumeric, 0, 40].Array[0, 12]).Sample((start, args) =>
        {
            var decoded = DaemonProtocol.DecodeRequest(DaemonProtocol.EncodeRequest(start, args));
            Assert.That(decoded, Is.Not.Null);
            Assert.That(decoded!.Value.Start, Is.EqualTo(start));
            Assert.That(decoded.Value.Args, Is.EqualTo(args));
        }, iter: 2000);

    [Test]
    public void Arbitrary_bytes_are_no_request_and_never_an_exception() =>
        Gen.Byte.Array[0, 200].Sample(bytes =>
        {
            var framed = bytes.Length >= 8 ? [.. "QRD1"u8, .. bytes[4..]] : bytes;
            _ = DaemonProtocol.DecodeRequest(framed);
            _ = DaemonProtocol.DecodeRequest(bytes);
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
