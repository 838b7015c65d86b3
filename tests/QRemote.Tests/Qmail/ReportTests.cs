using System.Net;
using System.Text;
using QRemote.Qmail;

namespace QRemote.Tests.Qmail;

public sealed class ReportTests
{
    private static string Bytes(DeliveryReport report) => Encoding.UTF8.GetString(ReportWriter.Format(report)).Replace("\0", "\\0", StringComparison.Ordinal);

    [Test]
    public void Recipient_reports_come_in_order_then_exactly_one_message_report()
    {
        var report = new DeliveryReport(
            [RecipientReport.Accepted, new RecipientReport(RecipientLetter.Rejected, "x said no\n"), new RecipientReport(RecipientLetter.Deferred, "later\n")],
            MessageLetter.Delivered, "ok\n");
        Assert.That(Bytes(report), Is.EqualTo("r\\0hx said no\n\\0slater\n\\0Kok\n\\0"));
    }

    [Test]
    public void Invoked_improperly_is_netqmails_text()
    {
        Assert.That(Bytes(Reports.InvokedImproperly()), Is.EqualTo("DI (qmail-remote) was invoked improperly. (#5.3.5)\n\\0"));
    }

    [TestCase("a\0b", "a?b")]
    [TestCase("bell\a tab\t cr\r del\x7f", "bell? tab? cr? del?")]
    [TestCase("line1\nline2", "line1\nline2")]
    [TestCase("caf\u00e9 \u2603", "caf\u00e9 \u2603")]
    [TestCase("c1\u0085", "c1?")]
    [TestCase("bad\uFFFD", "bad?")]
    public void Text_is_sanitized_at_one_choke_point(string input, string expected)
    {
        Assert.That(ReportText.Sanitize(input), Is.EqualTo(expected));
        Assert.That(Encoding.UTF8.GetString(ReportWriter.Format(DeliveryReport.MessageOnly(MessageLetter.Deferred, input)))[1..^1], Is.EqualTo(expected));
    }

    [Test]
    public void Lone_surrogate_becomes_a_question_mark()
    {
        Assert.That(ReportText.Sanitize("lone" + (char)0xD800 + "x"), Is.EqualTo("lone?x"));
    }

    [Test]
    public void Invalid_utf8_from_the_wire_becomes_question_marks()
    {
        Assert.That(ReportText.FromWire([(byte)'o', (byte)'k', 0xff, 0xc3, (byte)' ', 0xc3, 0xa9, 0]), Is.EqualTo("ok?? \u00e9?"));
    }

    [Test]
    public void Server_text_is_capped_at_5000_bytes()
    {
        var said = Reports.RemoteHostSaid("550 " + new string('x', 10000) + "\n");
        Assert.That(Encoding.UTF8.GetByteCount(said), Is.EqualTo("Remote host said: ".Length + 5000 + 1));
    }

    [TestCase("host.example", "host.example")]
    [TestCase("sp ace\tctl\u00e9", "sp?ace?ctl??")]
    public void Host_names_in_texts_are_shown_as_netqmails_outsafe(string host, string shown)
    {
        Assert.That(Reports.OutSafe(host), Is.EqualTo(shown));
        Assert.That(Reports.NoSuchHost(host).Text, Is.EqualTo($"Sorry, I couldn't find any host named {shown}. (#5.1.2)\n"));
    }

    [Test]
    public void Ipv4_mapped_peers_are_shown_as_ipv4()
    {
        Assert.That(Reports.Host(IPAddress.Parse("::ffff:192.0.2.1")), Is.EqualTo("192.0.2.1"));
        Assert.That(Reports.Host(IPAddress.Parse("2001:db8::1")), Is.EqualTo("2001:db8::1"));
    }

    [Test]
    public void Terminal_form_is_one_line_per_report()
    {
        var report = new DeliveryReport([RecipientReport.Accepted], MessageLetter.Delivered, "192.0.2.1 accepted message.\nRemote host said: 250 ok\n");
        Assert.That(ReportWriter.FormatForTerminal(report, ["a@b"]),
            Is.EqualTo("r <a@b> accepted\nK message delivered\n    192.0.2.1 accepted message.\n    Remote host said: 250 ok\n"));
    }
}
