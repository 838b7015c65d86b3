using System.Text;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// One BIND9 for all DNS tests, authoritative for <c>qremote.test</c> (DNSSEC-signed with RSA-2048
/// keys, so MX answers with RRSIGs are large) and <c>broken.test</c> (fails to load: SERVFAIL).
/// The addresses are on 127.0.0.0/8 but not 127.0.0.1, which is this host's own. Started by the first test
/// that asks for it, wherever that test lives, and stopped once after the last (<see cref="SharedPeers"/>).
/// </summary>
internal static class DnsFixture
{
    private static readonly Lazy<(Bind Server, string ResolvConf)> Shared = new(Start, LazyThreadSafetyMode.ExecutionAndPublication);

    internal static Bind Server => Shared.Value.Server;

    public static string ResolvConf => Shared.Value.ResolvConf;

    /// <summary>Names of the exchangers in the 'big' domain: enough MX records that the answer exceeds 1232 bytes.</summary>
    public static int BigCount => 40;

    public static string Zone()
    {
        var z = new StringBuilder();
        z.Append("""
            $TTL 300
            @            SOA   ns.qremote.test. hostmaster.qremote.test. 1 3600 600 86400 300
            @            NS    ns
            ns           A     127.0.0.1
            plain        MX    10 mx1.plain
            mx1.plain    A     127.0.0.10
            alias1       CNAME alias2
            alias2       CNAME alias3
            alias3       CNAME target
            target       MX    10 mx.target
            mx.target    A     127.0.0.11
            loop1        CNAME loop2
            loop2        CNAME loop1
            mxcname      MX    10 mxalias.mxcname
            mxalias.mxcname CNAME real.mxcname
            real.mxcname A     127.0.0.12
            nullmx       MX    0 .
            nullmxa      MX    0 .
            nullmxa      A     127.0.0.13
            nodata       A     127.0.0.14
            race         MX    10 mx.race
            mx.race      AAAA  ::1
            mx.race      A     127.0.0.40
            v6only       MX    10 mx.v6only
            mx.v6only    AAAA  ::1
            v6ula        MX    10 mx.v6ula
            mx.v6ula     AAAA  fd51::25
            equal        MX    10 a.equal
            equal        MX    10 b.equal
            a.equal      A     127.0.0.15
            b.equal      A     127.0.0.16
            self         MX    10 me.self
            self         MX    20 other.self
            me.self      A     127.0.0.1
            other.self   A     127.0.0.17
            self2        MX    10 other.self2
            self2        MX    20 me.self2
            other.self2  A     127.0.0.18
            me.self2     A     127.0.0.1
            noaddr       MX    10 nothing.noaddr
            crosszone    CNAME outside.other.test.
            twomx        MX    10 first.twomx
            twomx        MX    20 second.twomx
            first.twomx  A     127.0.0.24
            second.twomx A     127.0.0.25
            twice        MX    20 MX.Twice
            twice        MX    10 mx.twice
            twice        MX    30 other.twice
            mx.twice     A     127.0.0.26
            other.twice  A     127.0.0.27
            backup       MX    10 dead.backup
            backup       MX    20 live.backup
            dead.backup  A     127.0.0.19
            live.backup  A     127.0.0.20

            """);
        for (var i = 0; i < BigCount; i++)
        {
            z.Append($"big MX {10 + i} exchanger-with-a-rather-long-name-number-{i:00}.big\n");
        }

        z.Append("exchanger-with-a-rather-long-name-number-00.big A 127.0.0.21\n");
        for (var i = 0; i < 6; i++)
        {
            z.Append($"mid MX {10 + i} exchanger-with-a-long-name-{i}.mid\n");
        }

        z.Append("exchanger-with-a-long-name-0.mid A 127.0.0.22\n");
        return z.ToString();
    }

    /// <summary>A second, unsigned zone: the target of a CNAME that leaves qremote.test.</summary>
    public const string OtherZone = """
        $TTL 300
        @             SOA ns.other.test. hostmaster.other.test. 1 3600 600 86400 300
        @             NS  ns.qremote.test.
        outside       MX  10 mx.outside
        mx.outside    A   127.0.0.23

        """;

    /// <summary>Stops the BIND if a test started it.</summary>
    public static void StopIfStarted()
    {
        if (Shared.IsValueCreated)
        {
            Shared.Value.Server.Dispose();
        }
    }

    private static (Bind, string) Start()
    {
        var server = Bind.Start(
            new Dictionary<string, string?> { ["qremote.test"] = Zone(), ["other.test"] = OtherZone, ["broken.test"] = null },
            new HashSet<string> { "qremote.test" });
        return (server, server.WriteResolvConf());
    }
}
