using System.Security.Cryptography.X509Certificates;
using QRemote.Dns;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Tls.MtaSts;

/// <summary>
/// For every MTA-STS test: a BIND9 of its own, authoritative for <c>mtasts.test</c> (the <c>_mta-sts</c> TXT records
/// and the policy hosts' addresses, on 127.0.0.81 to .89; .89 is bücher's, in A-labels), and certificates: two CAs (<see cref="TestCa"/>) and policy
/// host certificates signed by one or the other. Tests whose DNS must change midway start a second BIND for
/// <c>flip.test</c> (<see cref="FlipZone"/>).
/// </summary>
[SetUpFixture]
public sealed class MtaStsFixture
{
    internal static Bind Server { get; private set; } = null!;

    public static string ResolvConf { get; private set; } = "";

    private static readonly Dictionary<string, TestCa> Cas = [];
    private static readonly Dictionary<string, Issued> HostCertificates = [];

    /// <summary>Every policy host name in the zones, on the certificates "policy" (by "ca") and "foreign" (by "otherca").</summary>
    public static readonly string[] PolicyHosts =
    [
        "mta-sts.good.mtasts.test", "mta-sts.split.mtasts.test", "mta-sts.alias.mtasts.test", "mta-sts.two.mtasts.test",
        "mta-sts.noid.mtasts.test", "mta-sts.cname.mtasts.test", "mta-sts.hostless.mtasts.test", "mta-sts.flip.test",
        "mta-sts.xn--bcher-kva.mtasts.test",
    ];

    public const string Zone = """
        $TTL 300
        @                  SOA   ns.mtasts.test. hostmaster.mtasts.test. 1 3600 600 86400 300
        @                  NS    ns
        ns                 A     127.0.0.1
        _mta-sts.good      TXT   "v=STSv1; id=good1;"
        mta-sts.good       A     127.0.0.81
        _mta-sts.split     TXT   "v=STSv1; " "id=split1;"
        _mta-sts.split     TXT   "v=spf1 -all"
        mta-sts.split      A     127.0.0.82
        _mta-sts.alias     CNAME _mta-sts.good
        mta-sts.alias      A     127.0.0.83
        _mta-sts.two       TXT   "v=STSv1; id=two1;"
        _mta-sts.two       TXT   "v=STSv1; id=two2;"
        mta-sts.two        A     127.0.0.84
        _mta-sts.noid      TXT   "v=STSv1; ext=1;"
        mta-sts.noid       A     127.0.0.84
        nxdomain           A     127.0.0.88
        x._mta-sts.nodata  TXT   "an empty non-terminal above me: NODATA for _mta-sts.nodata"
        _mta-sts.cname     TXT   "v=STSv1; id=cname1;"
        mta-sts.cname      CNAME web
        web                A     127.0.0.87
        _mta-sts.wild      TXT   "v=STSv1; id=wild1;"
        mta-sts.wild       A     127.0.0.86
        _mta-sts.hostless  TXT   "v=STSv1; id=hostless1;"
        _mta-sts.xn--bcher-kva TXT "v=STSv1; id=idn1;"
        mta-sts.xn--bcher-kva A  127.0.0.89

        """;

    /// <summary><c>flip.test</c>, whose policy host is 127.0.0.85; <paramref name="record"/> null: no TXT record.</summary>
    public static string FlipZone(string? record) => $"""
        $TTL 300
        @          SOA   ns.flip.test. hostmaster.flip.test. 1 3600 600 86400 300
        @          NS    ns
        ns         A     127.0.0.1
        mta-sts    A     127.0.0.85
        {(record is null ? "" : $"_mta-sts TXT \"{record}\"")}

        """;

    /// <summary>A BIND for <c>flip.test</c> alone; a null zone fails to load, so every answer is SERVFAIL.</summary>
    internal static Bind StartFlip(string? zone) =>
        Bind.Start(new Dictionary<string, string?> { ["flip.test"] = zone }, new HashSet<string>());

    /// <summary>A fresh resolver (so nothing is remembered from other queries) asking <paramref name="resolvConf"/>'s server.</summary>
    internal static IDnsLookup Lookup(string? resolvConf = null) => new DnsLookup(ResolverConfig.Load(resolvConf ?? ResolvConf));

    /// <summary>The PEM certificate of a CA ("ca", "otherca") or of a policy host ("policy", "foreign", "wrongname", "wildcard").</summary>
    public static string Certificate(string name) => Cas.TryGetValue(name, out var ca) ? ca.CertificateFile : HostCertificates[name].CertificateFile;

    public static string Key(string name) => Cas.TryGetValue(name, out var ca) ? ca.KeyFile : HostCertificates[name].KeyFile;

    public static X509Certificate2Collection Roots(string ca)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(Certificate(ca));
        return roots;
    }

    [OneTimeSetUp]
    public void Start()
    {
        MakeCertificates();
        Server = Bind.Start(new Dictionary<string, string?> { ["mtasts.test"] = Zone, ["broken-sts.test"] = null }, new HashSet<string>());
        ResolvConf = Server.WriteResolvConf();
    }

    [OneTimeTearDown]
    public void Stop()
    {
        Server?.Dispose();
        foreach (var ca in Cas.Values)
        {
            ca.Dispose();
        }

        Cas.Clear();
        HostCertificates.Clear();
    }

    private static void MakeCertificates()
    {
        foreach (var ca in new[] { "ca", "otherca" })
        {
            Cas[ca] = new TestCa($"QRemote MTA-STS test {ca}");
        }

        HostCertificates["policy"] = Cas["ca"].Issue("policy", PolicyHosts);
        HostCertificates["foreign"] = Cas["otherca"].Issue("foreign", PolicyHosts);
        HostCertificates["wrongname"] = Cas["ca"].Issue("wrongname", "mta-sts.elsewhere.test");
        HostCertificates["wildcard"] = Cas["ca"].Issue("wildcard", "*.wild.mtasts.test");
    }
}
