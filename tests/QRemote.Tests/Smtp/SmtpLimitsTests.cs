using QRemote.Delivery;
using QRemote.Smtp;

namespace QRemote.Tests.Smtp;

/// <summary>RFC 9422 LIMITS as read from an EHLO reply, hostile values included, and the split it makes.</summary>
public sealed class SmtpLimitsTests
{
    private static SmtpLimits Ehlo(params string[] keywords) =>
        SmtpLimits.FromEhlo("250-mx.example.test\n" + string.Concat(keywords.Select((k, i) => $"250{(i == keywords.Length - 1 ? ' ' : '-')}{k}\n")));

    [Test]
    public void The_three_limits_are_read_in_any_case()
    {
        Assert.That(Ehlo("PIPELINING", "LIMITS MAILMAX=3 RCPTMAX=2 RCPTDOMAINMAX=1", "HELP"), Is.EqualTo(new SmtpLimits(3, 2, 1)));
        Assert.That(Ehlo("limits mailmax=3 RcptMax=2 rcptdomainmax=1"), Is.EqualTo(new SmtpLimits(3, 2, 1)));
        Assert.That(Ehlo("LIMITS RCPTMAX=999999"), Is.EqualTo(new SmtpLimits(null, 999999, null)), "six digits, the registry's most");
        Assert.That(Ehlo("LIMITS RCPTMAX=007"), Is.EqualTo(new SmtpLimits(null, 7, null)), "1*6DIGIT allows leading zeros");
    }

    [TestCase("LIMITS FUTUREMAX=5 RCPTMAX=5", 5, Description = "an unknown limit is ignored, its neighbours stand")]
    [TestCase("LIMITS RCPTMAX=0", null, Description = "zero would forbid the delivery: ignored")]
    [TestCase("LIMITS RCPTMAX=-1", null)]
    [TestCase("LIMITS RCPTMAX=+5", null)]
    [TestCase("LIMITS RCPTMAX=1234567", null, Description = "seven digits: not the registry's syntax")]
    [TestCase("LIMITS RCPTMAX=99999999999999999999999", null, Description = "past int: ignored, never wrapped")]
    [TestCase("LIMITS RCPTMAX=2147483648", null)]
    [TestCase("LIMITS RCPTMAX", null, Description = "no value")]
    [TestCase("LIMITS RCPTMAX=", null)]
    [TestCase("LIMITS =5", null)]
    [TestCase("LIMITS RCPTMAX=5x", null)]
    [TestCase("LIMITS RCPTMAX=5;MAILMAX=2", null)]
    [TestCase("LIMITS RCPTMAX=\u0663", null, Description = "a non-ASCII digit")]
    [TestCase("LIMITS RCPTMAX=5\tMAILMAX=2", null, Description = "items are separated by SP only")]
    [TestCase("LIMITS RCPTMAX=junk RCPTMAX=4", 4, Description = "one bad item voids only itself")]
    [TestCase("LIMITS RCPTMAX=10 RCPTMAX=4 RCPTMAX=8", 4, Description = "a duplicate counts at its smallest")]
    [TestCase("LIMITS  RCPTMAX=3   ", 3, Description = "extra spaces")]
    [TestCase("LIMITS", null)]
    [TestCase("LIMITSX RCPTMAX=3", null, Description = "another keyword")]
    [TestCase("X-LIMITS RCPTMAX=3", null)]
    public void Hostile_values_are_ignored_item_by_item(string keyword, int? rcptMax)
    {
        Assert.That(Ehlo(keyword), Is.EqualTo(new SmtpLimits(null, rcptMax, null)));
    }

    [Test]
    public void Two_limits_lines_count_at_their_smallest()
    {
        Assert.That(Ehlo("LIMITS RCPTMAX=10 MAILMAX=1", "LIMITS RCPTMAX=3"), Is.EqualTo(new SmtpLimits(1, 3, null)));
    }

    [Test]
    public void The_first_line_is_the_server_name_not_a_keyword()
    {
        Assert.That(SmtpLimits.FromEhlo("250-LIMITS RCPTMAX=1\n250 PIPELINING\n"), Is.EqualTo(SmtpLimits.None));
        Assert.That(SmtpLimits.FromEhlo("250 LIMITS RCPTMAX=1\n"), Is.EqualTo(SmtpLimits.None));
        Assert.That(SmtpLimits.FromEhlo(null), Is.EqualTo(SmtpLimits.None));
        Assert.That(SmtpLimits.FromEhlo(""), Is.EqualTo(SmtpLimits.None));
        Assert.That(SmtpLimits.FromEhlo("250-x\n2\n250-\n250 LIMITS RCPTMAX=2\n"), Is.EqualTo(new SmtpLimits(null, 2, null)), "short lines skipped");
    }

    [Test]
    public void A_very_long_line_of_junk_still_yields_its_valid_limit()
    {
        var junk = string.Join(' ', Enumerable.Range(0, 20000).Select(i => $"X{i}={new string('9', i % 40)}"));
        Assert.That(Ehlo($"LIMITS {junk} MAILMAX=2 {junk}"), Is.EqualTo(new SmtpLimits(2, null, null)));
    }

    [Test]
    public void Without_limits_every_mailbox_goes_in_one_transaction()
    {
        var addresses = Enumerable.Range(0, 500).Select(i => $"u{i}@d{i % 7}.test").ToList();
        Assert.That(TransactionBatches.Split(addresses, SmtpLimits.None), Is.EqualTo(new[] { Enumerable.Range(0, 500).ToArray() }));
        Assert.That(TransactionBatches.Split(addresses, new SmtpLimits(1, null, null)), Has.Count.EqualTo(1), "MAILMAX alone splits nothing");
    }

    [Test]
    public void Rcptmax_splits_in_argv_order()
    {
        var addresses = new[] { "a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test" };
        Assert.That(TransactionBatches.Split(addresses, new SmtpLimits(null, 2, null)),
            Is.EqualTo(new[] { new[] { 0, 1 }, [2, 3], [4] }));
        Assert.That(TransactionBatches.Split(addresses, new SmtpLimits(null, 5, null)), Is.EqualTo(new[] { new[] { 0, 1, 2, 3, 4 } }));
        Assert.That(TransactionBatches.Split(addresses, new SmtpLimits(null, 1, null)), Has.Count.EqualTo(5));
    }

    [Test]
    public void Rcptdomainmax_counts_distinct_domains_in_any_case()
    {
        var addresses = new[] { "a@X.test", "b@x.TEST", "c@y.test", "d@z.test", "e@y.test", "postmaster" };
        Assert.That(TransactionBatches.Split(addresses, new SmtpLimits(null, null, 1)),
            Is.EqualTo(new[] { new[] { 0, 1 }, [2], [3], [4], [5] }));
        Assert.That(TransactionBatches.Split(addresses, new SmtpLimits(null, null, 2)),
            Is.EqualTo(new[] { new[] { 0, 1, 2 }, [3, 4], [5] }));
        Assert.That(TransactionBatches.Split(addresses, new SmtpLimits(null, 2, 2)),
            Is.EqualTo(new[] { new[] { 0, 1 }, [2, 3], [4, 5] }));
    }
}
