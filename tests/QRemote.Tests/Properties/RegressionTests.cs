using System.Net;
using System.Text;
using QRemote.Qmail;
using QRemote.Smtp;

namespace QRemote.Tests.Properties;

/// <summary>
/// The product bugs the properties and the fuzz runner found, each kept as the smallest input that showed it.
/// All three were fixed in src/ (the resolver in 2afd06e, the recorder and Truncate in ea10222).
/// </summary>
public sealed class RegressionTests
{
    private static readonly string[] Example = ["example", "test"];
    private static readonly string[] Mx = ["mx", "example", "test"];

    /// <summary>example.test MX 10 mx.example.test, MX 20 mx.example.test.</summary>
    private static string RepeatedExchangerAnswer(bool compress = true, bool secondInCapitals = false)
    {
        var w = new DnsWriter { Compress = compress };
        w.Header(0x1234, DnsTemplates.QR | DnsTemplates.RD | DnsTemplates.RA, 1, 2, 0, 0);
        w.Question(Example, 15);
        w.Mx(Example, 10, Mx);
        w.Mx(Example, 20, secondInCapitals ? [.. Mx.Select(l => l.ToUpperInvariant())] : Mx);
        return Hex.Of(w.ToArray());
    }

    /// <summary>Was: ArgumentException from <c>ordered.ToDictionary</c> in ResolveMxAsync ("An item with the same key
    /// has already been added"), so such a domain was deferred with "QRemote failed unexpectedly" on every retry.</summary>
    [Test]
    public void The_same_exchanger_at_two_preferences_is_resolved()
    {
        var w = new DnsWriter();
        w.Header(1, DnsTemplates.QR | DnsTemplates.RD | DnsTemplates.RA, 1, 1, 0, 0);
        w.Question(Mx, 1);
        w.Address(Mx, IPAddress.Parse("192.0.2.7"));
        var a = Hex.Of(w.ToArray());
        var outcome = DnsRouteInvariants.Check(DnsRouteInvariants.Replay(false, 1, RepeatedExchangerAnswer(), a, a, a, a));
        Assert.That(outcome.Report, Is.Null);
        Assert.That(outcome.Destinations.Select(d => d.Address), Does.Contain(IPAddress.Parse("192.0.2.7")));
        Assert.That(outcome.Destinations[0].Preference, Is.EqualTo(10));
    }

    [Test]
    public void The_same_exchanger_in_two_spellings_at_two_preferences_is_resolved() =>
        Assert.That(
            DnsRouteInvariants.Check(DnsRouteInvariants.Replay(false, 1, [RepeatedExchangerAnswer(compress: false, secondInCapitals: true), .. Enumerable.Repeat("00", 8)])).Report,
            Is.EqualTo(Reports.DnsTemporaryFailure()));

    /// <summary>Was: when the first line was too long to keep (5000+ bytes), the code came from the first line that
    /// was kept, so "2xx-&lt;5000 bytes&gt;" then "250 ok" was recorded as a 250.</summary>
    [Test]
    public void A_reply_whose_first_line_is_too_long_to_keep_takes_its_code_from_that_line()
    {
        foreach (var (first, expected) in new[] { ("2xx-", -1), ("550-", 550) })
        {
            using var recorder = new ReplyRecorder(null);
            var bytes = Encoding.ASCII.GetBytes(first + new string('a', 5000) + "\r\n250 ok\r\n");
            recorder.LogServer(bytes, 0, bytes.Length);
            Assert.That(recorder.LastReply?.Code, Is.EqualTo(expected), first);
            ReplyInvariants.Check(new ReplyInput(bytes, [7], Transcript: true));
        }
    }

    /// <summary>Was: a lone high surrogate was taken with the next unit as a pair, so the cut could fall inside the
    /// real pair that followed.</summary>
    [Test]
    public void Truncate_never_splits_a_pair_after_a_lone_high_surrogate()
    {
        Assert.That(ReportText.Truncate("\ud800\ud83d\ude00", 6), Is.EqualTo("\ud800"));
        Assert.That(ReportText.Truncate("\ud800\ud83d\ude00", 7), Is.EqualTo("\ud800\ud83d\ude00"));
        ReportInvariants.Check(new ReportInput([], [], MessageLetter.Failed, "a\ud947\ud83d\ude00b", "h"));
    }
}
