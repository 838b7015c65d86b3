using System.Net;
using QRemote.Tls;

namespace QRemote.Tests.Tls.MtaSts;

/// <summary>
/// Internationalized policy domains (RFC 8461 3.3 and 4.1): a recipient domain in U-labels is looked up, fetched and
/// cached by its A-labels, against <see cref="MtaStsFixture"/>'s BIND, whose zone holds <c>bücher</c> only as
/// <c>xn--bcher-kva</c>, and an HTTPS server whose certificate names <c>mta-sts.xn--bcher-kva.mtasts.test</c>.
/// </summary>
[NonParallelizable]
public sealed class MtaStsIdnTests
{
    private const string Policy = "version: STSv1\nmode: enforce\nmx: mx.xn--bcher-kva.mtasts.test\nmx: *.xn--mnchen-3ya.mtasts.test\nmax_age: 86400\n";
    private static readonly IPAddress IdnHost = IPAddress.Parse("127.0.0.89");

    private string _cache = "";

    [SetUp]
    public void MakeCache() => _cache = Directory.CreateTempSubdirectory("qremote-mtasts-idn-").FullName;

    [TearDown]
    public void RemoveCache() => Directory.Delete(_cache, recursive: true);

    private MtaStsResolver Resolver(int port) => new(MtaStsFixture.Lookup(), new MtaStsOptions(_cache, MtaStsFixture.Roots("ca"), port), TimeProvider.System);

    [TestCase("bücher.mtasts.test")]
    [TestCase("BÜCHER.MTASTS.TEST.")]
    [TestCase("xn--bcher-kva.mtasts.test")]
    public async Task A_u_label_domain_gets_its_policy_by_its_a_labels(string domain)
    {
        using var server = OpensslPolicyServer.Start(IdnHost, "policy", Policy);
        var result = await Resolver(server.Port).GetPolicyAsync(domain, CancellationToken.None);
        Assert.That(result.Detail, Is.EqualTo("enforce, id idn1, max_age 86400, fetched"));
        Assert.That(server.WaitForRequests(1), Is.EqualTo(1), "fetched from https://mta-sts.xn--bcher-kva.mtasts.test/ (the certificate names only that)");
        var log = MtaStsFixture.Server.QueryLog();
        Assert.That(log, Has.Some.Contains("query: _mta-sts.xn--bcher-kva.mtasts.test IN TXT"));
        Assert.That(log, Has.Some.Contains("query: mta-sts.xn--bcher-kva.mtasts.test IN A "));
        Assert.That(Directory.GetFiles(_cache).Select(Path.GetFileName), Is.EqualTo(new[] { "xn--bcher-kva.mtasts.test" }), "cached under the A-labels");

        // The mx patterns are A-labels, and MX names (A-labels, as DNS gives them) are matched against them; an MX
        // name written in U-labels is compared in its A-label form.
        var policy = result.Policy!;
        Assert.That(policy.MatchesMx("mx.xn--bcher-kva.mtasts.test."), Is.True);
        Assert.That(policy.MatchesMx("mx.bücher.mtasts.test"), Is.True);
        Assert.That(policy.MatchesMx("a.xn--mnchen-3ya.mtasts.test"), Is.True);
        Assert.That(policy.MatchesMx("a.münchen.mtasts.test"), Is.True);
        Assert.That(policy.MatchesMx("mx.bucher.mtasts.test"), Is.False);
        Assert.That(policy.MatchesMx("mx.b\uFFFDcher.mtasts.test"), Is.False);
    }

    [TestCase("b\uFFFDcher.mtasts.test", Description = "undecodable argv bytes become U+FFFD")]
    [TestCase("bü cher.mtasts.test")]
    [TestCase("bü\u0000cher.mtasts.test")]
    [TestCase("bü\u200Bcher.mtasts.test", Description = "a format character")]
    [TestCase("bü\u2603cher.mtasts.test", Description = "a symbol")]
    [TestCase("-bücher.mtasts.test")]
    [TestCase("bücher..mtasts.test")]
    [TestCase("bücher_x.mtasts.test")]
    [TestCase("\uD800bücher.mtasts.test", Description = "a lone surrogate")]
    public async Task A_name_that_is_not_a_valid_idn_has_no_policy_and_nothing_is_asked(string domain)
    {
        var before = MtaStsFixture.Server.QueryLog().Count;
        var result = await Resolver(443).GetPolicyAsync(domain, CancellationToken.None);
        Assert.That(result.Policy, Is.Null);
        Assert.That(result.Detail, Does.EndWith(" is not a domain name: no policy"));
        Assert.That(result.Detail.Any(char.IsControl), Is.False);
        Assert.That(MtaStsFixture.Server.QueryLog(), Has.Count.EqualTo(before), "no DNS question for it");
        Assert.That(Directory.GetFiles(_cache), Is.Empty);
    }

    [Test]
    public async Task An_overlong_u_label_has_no_policy()
    {
        var result = await Resolver(443).GetPolicyAsync(new string('ü', 70) + ".mtasts.test", CancellationToken.None);
        Assert.That(result.Policy, Is.Null);
        Assert.That(result.Detail, Does.EndWith(" is not a domain name: no policy"));
        var huge = await Resolver(443).GetPolicyAsync(string.Join('.', Enumerable.Repeat("ü", 5000)), CancellationToken.None);
        Assert.That(huge.Detail, Has.Length.LessThan(300));
    }

    [TestCase("bücher.example", "xn--bcher-kva.example")]
    [TestCase("Bücher.Example", "xn--bcher-kva.example")]
    [TestCase("例え.テスト", "xn--r8jz45g.xn--zckzah")]
    [TestCase("faß.de", "xn--fa-hia.de")]
    [TestCase("ascii.example", "ascii.example")]
    public void A_labels_as_idna_gives_them(string unicode, string ascii) =>
        Assert.That(MtaStsResolver.ToALabels(unicode), Is.EqualTo(ascii));
}
