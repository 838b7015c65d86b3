using QRemote.Tls;

namespace QRemote.Tests.Tls.MtaSts;

/// <summary>RFC 8461's two grammars (the policy body, section 3.2; the TXT record, section 3.1) and MX matching (4.1).</summary>
public sealed class MtaStsGrammarTests
{
    private static readonly DateTimeOffset When = new(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private static MtaStsPolicy Parsed(string text)
    {
        var policy = MtaStsPolicy.Parse(text, "id1", When, out var error);
        Assert.That(policy, Is.Not.Null, error);
        Assert.That(error, Is.Null);
        return policy!;
    }

    private static string Rejected(string text)
    {
        var policy = MtaStsPolicy.Parse(text, "id1", When, out var error);
        Assert.That(policy, Is.Null, "should not parse: " + text);
        Assert.That(error, Is.Not.Null.And.Not.Empty);
        return error!;
    }

    [Test]
    public void The_rfc_example_parses_with_crlf_lines()
    {
        var policy = Parsed("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n");
        Assert.That(policy.Mode, Is.EqualTo(MtaStsMode.Enforce));
        Assert.That(policy.MxPatterns, Is.EqualTo(new[] { "mail.example.com", "*.example.net", "backupmx.example.com" }));
        Assert.That(policy.MaxAge, Is.EqualTo(TimeSpan.FromSeconds(604800)));
        Assert.That(policy.Id, Is.EqualTo("id1"));
        Assert.That(policy.Fetched, Is.EqualTo(When));
        Assert.That(policy.Expires, Is.EqualTo(When.AddSeconds(604800)));
        Assert.That(policy.IsFreshAt(When.AddSeconds(604799)), Is.True);
        Assert.That(policy.IsFreshAt(When.AddSeconds(604800)), Is.False);
    }

    [Test]
    public void Lf_lines_no_final_newline_blanks_after_the_colon_and_at_line_ends_and_unknown_keys()
    {
        var policy = Parsed("version:STSv1 \nmode:\ttesting\t\nextension_1.x: anything = ; goes\nmx: MX.Example.COM.\nmax_age: 86400");
        Assert.That(policy.Mode, Is.EqualTo(MtaStsMode.Testing));
        Assert.That(policy.MxPatterns, Is.EqualTo(new[] { "mx.example.com" }), "lower case, final dot dropped");
    }

    [Test]
    public void Repeated_fields_other_than_mx_count_the_first_time()
    {
        var policy = Parsed("version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 10\nmax_age: 99\n");
        Assert.That(policy.Mode, Is.EqualTo(MtaStsMode.Testing));
        Assert.That(policy.MaxAge, Is.EqualTo(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public void Mode_none_needs_no_mx()
    {
        var policy = Parsed("version: STSv1\nmode: none\nmax_age: 86400\n");
        Assert.That(policy.Mode, Is.EqualTo(MtaStsMode.None));
        Assert.That(policy.MxPatterns, Is.Empty);
    }

    [Test]
    public void Max_age_is_cut_to_one_year_and_zero_is_allowed()
    {
        Assert.That(Parsed("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557600\n").MaxAge.TotalSeconds, Is.EqualTo(31557600));
        Assert.That(Parsed("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 9999999999\n").MaxAge.TotalSeconds, Is.EqualTo(31557600));
        Assert.That(Parsed("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 0\n").IsFreshAt(When), Is.False);
    }

    [TestCase("mode: enforce\nmx: a.example\nmax_age: 86400\n", "no version")]
    [TestCase("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 86400\n", "not STSv1")]
    [TestCase("version: STSv1\nmx: a.example\nmax_age: 86400\n", "no mode")]
    [TestCase("version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 86400\n", "mode is \"Enforce\"")]
    [TestCase("version: STSv1\nMode: enforce\nmx: a.example\nmax_age: 86400\n", "no mode")]
    [TestCase("version: STSv1\nmode: enforce\nmx: a.example\n", "no max_age")]
    [TestCase("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n", "1 to 10 digits")]
    [TestCase("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", "1 to 10 digits")]
    [TestCase("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1 day\n", "1 to 10 digits")]
    [TestCase("version: STSv1\nmode: enforce\nmax_age: 86400\n", "no mx")]
    [TestCase("version: STSv1\nmode: testing\nmax_age: 86400\n", "no mx")]
    [TestCase("version: STSv1\nmode: enforce\nmx: mx*.example.com\nmax_age: 86400\n", "mx \"mx*.example.com\"")]
    [TestCase("version: STSv1\nmode: enforce\nmx: *.*.example.com\nmax_age: 86400\n", "is not a host name")]
    [TestCase("version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 86400\n", "is not a host name")]
    [TestCase("version: STSv1\nmode: enforce\nmx: -a.example\nmax_age: 86400\n", "is not a host name")]
    [TestCase("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\nthis line has no colon\n", "line 5 is not")]
    [TestCase(" version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\n", "line 1 is not")]
    [TestCase("version: STSv1\nmode: enforce\nmx:\nmax_age: 86400\n", "no value")]
    [TestCase("<html><body>Not found</body></html>\n", "line 1 is not")]
    [TestCase("", "no version")]
    public void Bad_grammar_is_rejected_with_a_reason(string text, string why) =>
        Assert.That(Rejected(text), Does.Contain(why));

    [TestCase("mx1.example.com", true)]
    [TestCase("MX1.EXAMPLE.COM.", true)]
    [TestCase("anything.example.net", true)]
    [TestCase("Anything.Example.Net.", true)]
    [TestCase("a.b.example.net", false)]
    [TestCase("example.net", false)]
    [TestCase(".example.net", false)]
    [TestCase("mx1.example.com.evil", false)]
    [TestCase("xmx1.example.com", false)]
    [TestCase("mx2.example.com", false)]
    [TestCase("", false)]
    public void Matches_mx_exactly_or_one_leftmost_label_for_a_wildcard(string host, bool matches)
    {
        var policy = Parsed("version: STSv1\nmode: enforce\nmx: mx1.example.com\nmx: *.example.net\nmax_age: 86400\n");
        Assert.That(policy.MatchesMx(host), Is.EqualTo(matches));
    }

    [TestCase("v=STSv1; id=20160831085700Z;", "20160831085700Z")]
    [TestCase("v=STSv1; id=20160831085700Z", "20160831085700Z")]
    [TestCase("v=STSv1;id=abc", "abc")]
    [TestCase("v=STSv1 ;\tid=abc ; ", "abc")]
    [TestCase("v=STSv1; ext=x:y; id=abc; id=second;", "abc")]
    [TestCase("v=STSv1; id=12345678901234567890123456789012", "12345678901234567890123456789012")]
    public void A_valid_txt_record_gives_its_first_id(string text, string id)
    {
        Assert.That(MtaStsRecord.IsStsRecord(text), Is.True);
        Assert.That(MtaStsRecord.ParseId(text, out var error), Is.EqualTo(id), error);
    }

    [TestCase("v=STSv1;", "no id")]
    [TestCase("v=STSv1; ext=1;", "no id")]
    [TestCase("v=STSv1; id=;", "id \"\"")]
    [TestCase("v=STSv1; id=123456789012345678901234567890123", "1 to 32")]
    [TestCase("v=STSv1; id=a-b", "letters or digits")]
    [TestCase("v=STSv1;; id=a", "an empty field")]
    [TestCase("v=STSv1; id a", "not name=value")]
    [TestCase("v=STSv1; id=a; ext=has space", "the value of ext")]
    [TestCase("v=STSv1; id=a; ext=", "the value of ext")]
    public void An_invalid_sts_record_is_rejected(string text, string why)
    {
        Assert.That(MtaStsRecord.ParseId(text, out var error), Is.Null);
        Assert.That(error, Does.Contain(why));
    }

    [TestCase("v=spf1 -all")]
    [TestCase("v=STSv10; id=1")]
    [TestCase("V=STSv1; id=1")]
    [TestCase(" v=STSv1; id=1")]
    [TestCase("v=STSv1")]
    public void Records_that_do_not_start_with_v_stsv1_and_a_semicolon_are_not_ours(string text) =>
        Assert.That(MtaStsRecord.IsStsRecord(text), Is.False);
}
