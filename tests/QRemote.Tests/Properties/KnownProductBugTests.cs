using System.Net;
using System.Text;
using QRemote.Dns;
using QRemote.Qmail;
using QRemote.Smtp;

namespace QRemote.Tests.Properties;

/// <summary>
/// Regression tests for the product bugs the properties and the fuzz runner found (see
/// <see cref="KnownProductBugs"/>). Each asserts the right behaviour; while the bug is still in src/ it is
/// skipped with the bug's description (so the suite stays green and the finding stays visible), and once
/// fixed it runs as an ordinary test, and the properties stop excusing the bug.
/// </summary>
public sealed class KnownProductBugTests
{
    private static void SkipWhilePresent(string bug)
    {
        if (KnownProductBugs.IsPresent(bug))
        {
            Assert.Ignore($"known product bug {bug}, reported, not yet fixed in src/");
        }
    }

    [Test]
    public void The_same_exchanger_at_two_preferences_is_one_destination_list()
    {
        SkipWhilePresent(KnownProductBugs.RepeatedExchanger);
        // MX 10 mx.example.test, MX 20 mx.example.test; mx.example.test A 192.0.2.7 (asked), AAAA nodata.
        var w = new DnsWriter();
        string[] mx = ["mx", "example", "test"];
        w.Header(1, DnsTemplates.QR | DnsTemplates.RD | DnsTemplates.RA, 1, 1, 0, 0);
        w.Question(mx, 1);
        w.Address(mx, IPAddress.Parse("192.0.2.7"));
        var a = Hex.Of(w.ToArray());
        var outcome = DnsRouteInvariants.Check(DnsRouteInvariants.Replay(false, 1, KnownProductBugs.RepeatedExchangerAnswer(), a, a, a, a));
        Assert.That(outcome.Report, Is.Null);
        Assert.That(outcome.Destinations.Select(d => d.Address), Does.Contain(IPAddress.Parse("192.0.2.7")));
        Assert.That(outcome.Destinations[0].Preference, Is.EqualTo(10));
    }

    [Test]
    public void The_same_exchanger_in_two_spellings_at_two_preferences_does_not_crash()
    {
        SkipWhilePresent(KnownProductBugs.RepeatedExchanger);
        var w = new DnsWriter { Compress = false };
        string[] q = ["example", "test"];
        w.Header(2, DnsTemplates.QR | DnsTemplates.RD | DnsTemplates.RA, 1, 2, 0, 0);
        w.Question(q, 15);
        w.Mx(q, 10, ["mx", "example", "test"]);
        w.Mx(q, 20, ["MX", "EXAMPLE", "TEST"]);
        Assert.DoesNotThrow(() => DnsRouteInvariants.Check(DnsRouteInvariants.Replay(false, 1, Hex.Of(w.ToArray()), "00")));
    }

    [Test]
    public void A_reply_whose_first_line_is_too_long_to_keep_still_takes_its_code_from_that_line()
    {
        SkipWhilePresent(KnownProductBugs.CodeFromLaterLine);
        foreach (var (first, expected) in new[] { ("2xx-", -1), ("550-", 550) })
        {
            using var recorder = new ReplyRecorder(null);
            var bytes = Encoding.ASCII.GetBytes(first + new string('a', 5000) + "\r\n250 ok\r\n");
            recorder.LogServer(bytes, 0, bytes.Length);
            Assert.That(recorder.LastReply?.Code, Is.EqualTo(expected), first);
        }
    }

    [Test]
    public void Truncate_never_splits_a_pair_after_a_lone_high_surrogate()
    {
        SkipWhilePresent(KnownProductBugs.TruncateSplitsPair);
        var cut = ReportText.Truncate("\ud800\ud83d\ude00", 6);
        Assert.That(cut, Is.EqualTo("\ud800"));
        Assert.That(Encoding.UTF8.GetByteCount(cut), Is.LessThanOrEqualTo(6));
    }
}
