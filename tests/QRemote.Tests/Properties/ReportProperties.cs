using System.Text;
using CsCheck;
using QRemote.Qmail;

namespace QRemote.Tests.Properties;

/// <summary>Reports from arbitrary texts: see <see cref="ReportInvariants"/> for what must hold.</summary>
public sealed class ReportProperties
{
    [Test]
    public void Any_texts_give_well_formed_report_bytes() =>
        HostileGen.ReportInputs.Sample(ReportInvariants.Check, iter: 2000, print: r => r.ToString());

    [Test]
    public void Any_utf16_at_all_is_sanitized() =>
        Gen.Char.Array[0, 300].Select(c => new string(c)).Sample(text =>
        {
            var report = new DeliveryReport([new RecipientReport(RecipientLetter.Rejected, text)], MessageLetter.Deferred, text);
            ReportInvariants.CheckBytes(report, ReportWriter.Format(report));
        }, iter: 3000, print: ReportInput.Quote);

    [Test]
    public void Server_bytes_decode_to_clean_text_no_longer_than_they_were() =>
        Gen.Byte.Array[0, 600].Sample(bytes =>
        {
            var text = ReportText.FromWire(bytes);
            ReportInvariants.CheckClean(text, "FromWire");
            Assert.That(Encoding.UTF8.GetByteCount(text), Is.LessThanOrEqualTo(bytes.Length));
        }, iter: 3000, print: b => Hex.Of(b));

    /// <summary>Inputs as code, not attributes: an attribute's string is stored as UTF-8 and loses lone surrogates.</summary>
    private static readonly (string Text, string Expected)[] SanitizeCases =
    [
        ("\0", "?"),
        ("a\ud800b", "a?b"),
        ("\udc00\ud800", "??"),
        ("\ud83d\ude00", "\ud83d\ude00"),
        ("x\ud83d", "x?"),
        ("\u0085\u009f\u007f\u001b", "????"),
        ("\ufffd", "?"),
        ("line\r\nnext\n", "line?\nnext\n"),
    ];

    [Test]
    public void Sanitize_examples()
    {
        foreach (var (text, expected) in SanitizeCases)
        {
            Assert.That(ReportText.Sanitize(text), Is.EqualTo(expected), ReportInput.Quote(text));
            var report = DeliveryReport.MessageOnly(MessageLetter.Failed, text);
            Assert.That(ReportWriter.Format(report), Is.EqualTo(Encoding.UTF8.GetBytes("D" + expected + "\0")), ReportInput.Quote(text));
        }
    }
}
