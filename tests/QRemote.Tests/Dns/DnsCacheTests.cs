using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using QRemote.Dns;
using QRemote.Tests.Infrastructure;
using QRemote.Tests.Properties;

namespace QRemote.Tests.Dns;

/// <summary>The daemon's DNS cache against the test BIND (zone TTL 300 s): answers kept exactly as long as their TTL;
/// and against answers as big as the wire allows, built byte by byte and parsed by ARSoft, as an attacker's would be.</summary>
[NonParallelizable]
public sealed class DnsCacheTests
{
    private static int Asked(string name, string type) =>
        DnsFixture.Server.QueryLog().Count(l => l.Contains($"query: {name} IN {type}", StringComparison.OrdinalIgnoreCase));

    [Test]
    public async Task An_answer_is_kept_for_its_ttl_and_asked_again_after()
    {
        var time = FakeClock.StoppedAt(DateTimeOffset.UtcNow);
        var cache = new DnsCache(time);
        var config = ResolverConfig.Load(DnsFixture.ResolvConf);
        var name = DomainName.Parse("plain.qremote.test");
        var before = Asked("plain.qremote.test", "MX");

        var first = await new DnsLookup(config, cache).QueryAsync(name, RecordType.Mx, CancellationToken.None);
        Assert.That(first.Status, Is.EqualTo(DnsStatus.Ok));
        Assert.That(DnsCache.TimeToLive(first.Message!), Is.EqualTo(TimeSpan.FromSeconds(300)));
        WaitForLog(before + 1);

        time.Advance(TimeSpan.FromSeconds(299));
        var second = await new DnsLookup(config, cache).QueryAsync(name, RecordType.Mx, CancellationToken.None);
        Assert.That(second, Is.SameAs(first), "within the TTL: the kept answer, no query");
        Thread.Sleep(200);
        Assert.That(Asked("plain.qremote.test", "MX"), Is.EqualTo(before + 1));

        time.Advance(TimeSpan.FromSeconds(2));
        var third = await new DnsLookup(config, cache).QueryAsync(name, RecordType.Mx, CancellationToken.None);
        Assert.That(third, Is.Not.SameAs(first), "past the TTL: asked again");
        WaitForLog(before + 2);
    }

    [Test]
    public async Task A_temporary_failure_is_never_kept()
    {
        var cache = new DnsCache(TimeProvider.System);
        var answer = await new DnsLookup(ResolverConfig.Load(DnsFixture.ResolvConf), cache).QueryAsync(DomainName.Parse("x.broken.test"), RecordType.Mx, CancellationToken.None);
        Assert.That(answer.Status, Is.EqualTo(DnsStatus.TemporaryFailure));
        Assert.That(cache.Count, Is.Zero);
    }

    /// <summary>A TXT answer of about 63 KiB on the wire: 240 records of one 250-byte string each.</summary>
    private static DnsAnswer BigTxt(string name, uint ttl = 86400)
    {
        var owner = DnsWriter.Labels(name);
        var w = new DnsWriter();
        w.Header(1, DnsTemplates.QR | DnsTemplates.RD | DnsTemplates.RA, 1, 240, 0, 0);
        w.Question(owner, (int)RecordType.Txt);
        for (var i = 0; i < 240; i++)
        {
            var at = w.BeginRecord(owner, (int)RecordType.Txt, ttl);
            w.U8(250);
            w.Raw(System.Text.Encoding.ASCII.GetBytes($"{i:D3}".PadRight(250, 'x')));
            w.EndRecord(at);
        }

        var bytes = w.ToArray();
        Assert.That(bytes.Length, Is.InRange(60_000, 65_535));
        return new DnsAnswer(DnsStatus.Ok, DnsMessage.Parse(new ArraySegment<byte>(bytes)), "NOERROR");
    }

    /// <summary>The answer that costs most once parsed for its 64 KiB: 4,000 A records whose owner is a 2-byte pointer.</summary>
    private static DnsAnswer ManyAddresses(string name)
    {
        var owner = DnsWriter.Labels(name);
        var w = new DnsWriter();
        w.Header(1, DnsTemplates.QR | DnsTemplates.RD | DnsTemplates.RA, 1, 4000, 0, 0);
        w.Question(owner, (int)RecordType.A);
        for (var i = 0; i < 4000; i++)
        {
            w.Address(owner, new System.Net.IPAddress([10, 0, (byte)(i >> 8), (byte)i]));
        }

        var bytes = w.ToArray();
        Assert.That(bytes.Length, Is.InRange(60_000, 65_535));
        return new DnsAnswer(DnsStatus.Ok, DnsMessage.Parse(new ArraySegment<byte>(bytes)), "NOERROR");
    }

    /// <summary>NXDOMAIN with an SOA whose TTL and MINIMUM are both a day.</summary>
    private static DnsAnswer NxDomainForADay(string name)
    {
        var w = new DnsWriter();
        w.Header(1, DnsTemplates.QR | DnsTemplates.RD | DnsTemplates.RA | 3, 1, 0, 1, 0);
        w.Question(DnsWriter.Labels(name), (int)RecordType.Mx);
        var at = w.BeginRecord(["attacker", "test"], (int)RecordType.Soa, 86400);
        w.Name(["ns", "attacker", "test"]);
        w.Name(["hostmaster", "attacker", "test"]);
        foreach (var field in new uint[] { 1, 3600, 600, 86400, 86400 })
        {
            w.U32(field);
        }

        w.EndRecord(at);
        return new DnsAnswer(DnsStatus.NoSuchName, DnsMessage.Parse(new ArraySegment<byte>(w.ToArray())), "NXDOMAIN");
    }

    [Test]
    public void Big_answers_to_many_names_stay_within_the_byte_budget_and_the_least_recently_used_go()
    {
        // Bounces to 1,000 names an attacker controls, each answered with 63 KiB: 61 MiB on the wire alone.
        var time = FakeClock.StoppedAt(DateTimeOffset.UtcNow);
        var cache = new DnsCache(time);
        var hot = BigTxt("hot.example.test");
        cache.Put("hot.example.test", RecordType.Txt, hot);
        for (var i = 0; i < 1000; i++)
        {
            cache.Put($"n{i}.attacker.test", RecordType.Txt, BigTxt($"n{i}.attacker.test"));
            // A domain mail really goes to, asked for again and again.
            Assert.That(cache.Get("hot.example.test", RecordType.Txt), Is.SameAs(hot), $"after {i + 1} answers");
        }

        Assert.That(cache.Count, Is.LessThanOrEqualTo(32 * 1024 * 1024 / 63_000), "no more 63 KiB answers than 32 MiB holds");
        Assert.That(cache.Get("n0.attacker.test", RecordType.Txt), Is.Null, "the least recently used went first");
        Assert.That(cache.Get("n999.attacker.test", RecordType.Txt), Is.Not.Null, "the newest stays");
    }

    [Test]
    public void The_charge_covers_what_the_parsed_answers_really_take_on_the_heap()
    {
        foreach (var (kind, make) in new (string, Func<int, DnsAnswer>)[] { ("txt", i => BigTxt($"t{i}.attacker.test")), ("a", i => ManyAddresses($"a{i}.attacker.test")) })
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            var before = GC.GetTotalMemory(forceFullCollection: true);
            var kept = Enumerable.Range(0, 40).Select(make).ToList();
            var after = GC.GetTotalMemory(forceFullCollection: true);
            var charged = kept.Sum(DnsCache.EstimateBytes);
            var heap = after - before;
            TestContext.Out.WriteLine($"{kind}: 40 answers of 64 KiB: {heap / 40} bytes each on the heap, charged {charged / 40}");
            Assert.That(charged, Is.GreaterThanOrEqualTo(heap), kind);
            GC.KeepAlive(kept);
        }
    }

    [Test]
    public void A_negative_answer_is_kept_an_hour_at_most_whatever_its_soa_says()
    {
        var time = FakeClock.StoppedAt(DateTimeOffset.UtcNow);
        var cache = new DnsCache(time);
        var nx = NxDomainForADay("gone.attacker.test");
        cache.Put("gone.attacker.test", RecordType.Mx, nx);
        time.Advance(TimeSpan.FromMinutes(59));
        Assert.That(cache.Get("gone.attacker.test", RecordType.Mx), Is.SameAs(nx));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.That(cache.Get("gone.attacker.test", RecordType.Mx), Is.Null, "RFC 2308 7.1: negative answers are not kept for a day");
    }

    [Test]
    public void A_positive_answer_is_kept_a_day_at_most()
    {
        var time = FakeClock.StoppedAt(DateTimeOffset.UtcNow);
        var cache = new DnsCache(time);
        var week = BigTxt("week.example.test", ttl: 7 * 86400);
        cache.Put("week.example.test", RecordType.Txt, week);
        time.Advance(TimeSpan.FromDays(1) - TimeSpan.FromSeconds(1));
        Assert.That(cache.Get("week.example.test", RecordType.Txt), Is.SameAs(week));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(cache.Get("week.example.test", RecordType.Txt), Is.Null);
    }

    [Test]
    public void Answers_from_one_resolver_are_never_given_for_another()
    {
        var cache = new DnsCache(FakeClock.StoppedAt(DateTimeOffset.UtcNow));
        var first = ResolverConfig.Parse("nameserver 127.0.0.1#5301\nnameserver 127.0.0.2\n");
        var reordered = ResolverConfig.Parse("nameserver 127.0.0.2\nnameserver 127.0.0.1#5301\n");
        var otherPort = ResolverConfig.Parse("nameserver 127.0.0.1#5302\nnameserver 127.0.0.2\n");
        var same = ResolverConfig.Parse("nameserver 127.0.0.1#5301\nnameserver 127.0.0.2\noptions timeout:1\n");
        var answer = BigTxt("x.example.test");
        cache.Put(first, "x.example.test", RecordType.Txt, answer);
        Assert.That(cache.Get(first, "x.example.test", RecordType.Txt), Is.SameAs(answer));
        Assert.That(cache.Get(same, "x.example.test", RecordType.Txt), Is.SameAs(answer), "the same servers in the same order");
        Assert.That(cache.Get(reordered, "x.example.test", RecordType.Txt), Is.Null);
        Assert.That(cache.Get(otherPort, "x.example.test", RecordType.Txt), Is.Null);
        Assert.That(cache.Get("x.example.test", RecordType.Txt), Is.Null, "nor through the overload that names no resolver");
    }

    private static void WaitForLog(int count) =>
        Infrastructure.WaitFor.Condition(() => Asked("plain.qremote.test", "MX") >= count, $"{count} MX queries in BIND's log");
}
