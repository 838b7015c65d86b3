using System.Net;
using QRemote.Dns;

namespace QRemote.Tests.Dns;

public sealed class ResolverConfigTests
{
    [Test]
    public void Reads_nameservers_and_options()
    {
        var config = ResolverConfig.Parse("# c\nsearch example.com\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions rotate timeout:3 attempts:4\n");
        Assert.That(config.Servers, Is.EqualTo(new[] { new IPEndPoint(IPAddress.Parse("192.0.2.53"), 53), new IPEndPoint(IPAddress.Parse("2001:db8::53"), 53) }));
        Assert.That((config.Timeout, config.Attempts), Is.EqualTo((TimeSpan.FromSeconds(3), 4)));
    }

    [Test]
    public void No_nameserver_means_loopback_as_libc_never_a_public_resolver()
    {
        Assert.That(ResolverConfig.Parse("search x\n").Servers, Is.EqualTo(ResolverConfig.LoopbackServers));
        Assert.That(ResolverConfig.Load("/nonexistent/resolv.conf").Servers, Is.EqualTo(ResolverConfig.LoopbackServers));
    }

    [Test]
    public void At_most_three_servers_and_garbage_is_skipped()
    {
        var config = ResolverConfig.Parse("nameserver bogus\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n");
        Assert.That(config.Servers.Select(s => s.Address.ToString()), Is.EqualTo(new[] { "192.0.2.1", "192.0.2.2", "192.0.2.3" }));
    }

    [TestCase("nameserver 127.0.0.1\n", true, "AD bit: trusted (loopback resolver)")]
    [TestCase("nameserver 127.0.0.53\nnameserver ::1\n", true, "AD bit: trusted (loopback resolver)")]
    [TestCase("search x\n", true, "AD bit: trusted (loopback resolver)")]
    [TestCase("nameserver 192.0.2.53\n", false, "AD bit: ignored (non-loopback resolver without options trust-ad)")]
    [TestCase("nameserver 127.0.0.1\nnameserver 192.0.2.53\n", false, "AD bit: ignored (non-loopback resolver without options trust-ad)")]
    [TestCase("nameserver 192.0.2.53\noptions rotate trust-ad\n", true, "AD bit: trusted (options trust-ad)")]
    [TestCase("options trust-ad\nnameserver 2001:db8::53\n", true, "AD bit: trusted (options trust-ad)")]
    [TestCase("nameserver 192.0.2.53\n# options trust-ad\n", false, "AD bit: ignored (non-loopback resolver without options trust-ad)")]
    public void The_ad_bit_is_believed_only_from_loopback_resolvers_or_with_options_trust_ad(string resolvConf, bool trusted, string described)
    {
        var config = ResolverConfig.Parse(resolvConf);
        Assert.That((config.AdTrust.Trusted, config.AdTrust.Describe()), Is.EqualTo((trusted, described)));
    }

    [Test]
    public void Test_override_ports()
    {
        Assert.That(ResolverConfig.Parse("nameserver 127.0.0.1#5353\nnameserver [::1]:5354\n").Servers,
            Is.EqualTo(new[] { new IPEndPoint(IPAddress.Loopback, 5353), new IPEndPoint(IPAddress.IPv6Loopback, 5354) }));
    }
}
