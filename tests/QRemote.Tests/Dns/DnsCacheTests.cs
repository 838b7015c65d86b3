using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using QRemote.Dns;

namespace QRemote.Tests.Dns;

/// <summary>The daemon's DNS cache against the test BIND (zone TTL 300 s): answers kept exactly as long as their TTL.</summary>
[NonParallelizable]
public sealed class DnsCacheTests
{
    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.UtcNow;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static int Asked(string name, string type) =>
        DnsFixture.Server.QueryLog().Count(l => l.Contains($"query: {name} IN {type}", StringComparison.OrdinalIgnoreCase));

    [Test]
    public async Task An_answer_is_kept_for_its_ttl_and_asked_again_after()
    {
        var time = new ManualTime();
        var cache = new DnsCache(time);
        var config = ResolverConfig.Load(DnsFixture.ResolvConf);
        var name = DomainName.Parse("plain.qremote.test");
        var before = Asked("plain.qremote.test", "MX");

        var first = await new DnsLookup(config, cache).QueryAsync(name, RecordType.Mx, CancellationToken.None);
        Assert.That(first.Status, Is.EqualTo(DnsStatus.Ok));
        Assert.That(DnsCache.TimeToLive(first.Message!), Is.EqualTo(TimeSpan.FromSeconds(300)));
        WaitForLog(before + 1);

        time.Now += TimeSpan.FromSeconds(299);
        var second = await new DnsLookup(config, cache).QueryAsync(name, RecordType.Mx, CancellationToken.None);
        Assert.That(second, Is.SameAs(first), "within the TTL: the kept answer, no query");
        Thread.Sleep(200);
        Assert.That(Asked("plain.qremote.test", "MX"), Is.EqualTo(before + 1));

        time.Now += TimeSpan.FromSeconds(2);
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

    private static void WaitForLog(int count) =>
        Infrastructure.WaitFor.Condition(() => Asked("plain.qremote.test", "MX") >= count, $"{count} MX queries in BIND's log");
}
