using System.Security.Cryptography.X509Certificates;
using QRemote.Dns;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Tls.MtaSts;

/// <summary>
/// For every MTA-STS test: a BIND9 of its own, authoritative for <c>mtasts.test</c> (the <c>_mta-sts</c> TXT records
/// and the policy hosts' addresses, on 127.0.0.81 to .88), and certificates made with openssl: two CAs and policy
/// host certificates signed by one or the other. Tests whose DNS must change midway start a second BIND for
/// <c>flip.test</c> (<see cref="FlipZone"/>).
/// </summary>
[SetUpFixture]
public sealed class MtaStsFixture
{
    internal static Bind Server { get; private set; } = null!;

    public static string ResolvConf { get; private set; } = "";

    /// <summary>Where the certificates are: <c>NAME.pem</c> and <c>NAME.key</c>.</summary>
    public static string CertificateDirectory { get; private set; } = "";

    /// <summary>Every policy host name in the zones, on the certificates "policy" (by "ca") and "foreign" (by "otherca").</summary>
    public static readonly string[] PolicyHosts =
    [
        "mta-sts.good.mtasts.test", "mta-sts.split.mtasts.test", "mta-sts.alias.mtasts.test", "mta-sts.two.mtasts.test",
        "mta-sts.noid.mtasts.test", "mta-sts.cname.mtasts.test", "mta-sts.hostless.mtasts.test", "mta-sts.flip.test",
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
    public static IDnsLookup Lookup(string? resolvConf = null) => new DnsLookup(ResolverConfig.Load(resolvConf ?? ResolvConf));

    public static string Certificate(string name) => Path.Combine(CertificateDirectory, name + ".pem");

    public static string Key(string name) => Path.Combine(CertificateDirectory, name + ".key");

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
        if (CertificateDirectory.Length > 0)
        {
            Directory.Delete(CertificateDirectory, recursive: true);
        }
    }

    private static void Openssl(params string[] args) => ExternalProcess.Run("/usr/bin/openssl", args);

    private static string P(string name) => Path.Combine(CertificateDirectory, name);

    private static void MakeCertificates()
    {
        CertificateDirectory = Directory.CreateTempSubdirectory("qremote-mtasts-certs-").FullName;
        File.SetUnixFileMode(CertificateDirectory, (UnixFileMode)0b111_101_101);
        foreach (var ca in new[] { "ca", "otherca" })
        {
            Openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", P(ca + ".key"), "-out", P(ca + ".pem"),
                "-subj", $"/CN=QRemote MTA-STS test {ca}", "-days", "2");
        }

        MakeServerCertificate("policy", "ca", PolicyHosts);
        MakeServerCertificate("foreign", "otherca", PolicyHosts);
        MakeServerCertificate("wrongname", "ca", ["mta-sts.elsewhere.test"]);
        MakeServerCertificate("wildcard", "ca", ["*.wild.mtasts.test"]);
        foreach (var f in Directory.GetFiles(CertificateDirectory))
        {
            File.SetUnixFileMode(f, (UnixFileMode)0b110_100_100);
        }
    }

    private static void MakeServerCertificate(string name, string ca, IReadOnlyList<string> dnsNames)
    {
        Openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", P(name + ".key"), "-out", P(name + ".csr"), "-subj", $"/CN={dnsNames[0]}");
        File.WriteAllText(P(name + ".ext"), $"subjectAltName={string.Join(",", dnsNames.Select(n => "DNS:" + n))}\n");
        Openssl("x509", "-req", "-in", P(name + ".csr"), "-CA", P(ca + ".pem"), "-CAkey", P(ca + ".key"), "-CAcreateserial",
            "-out", P(name + ".pem"), "-days", "2", "-extfile", P(name + ".ext"));
    }
}
