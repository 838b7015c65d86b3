using System.Net;
using System.Text;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// A real validating recursive resolver: Debian's Unbound (<c>unbound -d</c>) on a loopback port, in
/// front of BIND servers given as stub zones, validating with the trust anchors the test hands it and
/// nothing else (no root key, no root hints: there is no network). It sets the AD bit on answers it
/// proved secure, answers SERVFAIL for bogus ones, and neither for names outside its trust anchors.
/// </summary>
internal sealed class Unbound : IDisposable
{
    public const string Program = "/usr/sbin/unbound";
    private readonly ExternalProcess _process;

    private Unbound(ExternalProcess process, string directory, IPEndPoint endpoint)
    {
        _process = process;
        Directory = directory;
        EndPoint = endpoint;
    }

    public string Directory { get; }

    public IPEndPoint EndPoint { get; }

    /// <summary>What unbound wrote (stderr: <c>logfile: ""</c>); validation failures are logged here.</summary>
    public string Output => _process.Output;

    /// <summary>Starts unbound.</summary>
    /// <param name="stubs">Zones and the authoritative server to ask for each (<c>stub-zone</c>, not primed).</param>
    /// <param name="trustAnchors">DNSKEY (or DS) records in zone-file form, one a line: the zones to validate.</param>
    /// <param name="insecure">Zones declared <c>domain-insecure</c>: never validated, never AD.</param>
    public static Unbound Start(IReadOnlyDictionary<string, IPEndPoint> stubs, IEnumerable<string> trustAnchors, IEnumerable<string> insecure)
    {
        if (!File.Exists(Program))
        {
            Assert.Fail($"{Program} is missing: install Debian's unbound");
        }

        var address = IPAddress.Loopback;
        var port = FreePort.TcpAndUdp(address);
        var dir = System.IO.Directory.CreateTempSubdirectory("qremote-unbound-").FullName;
        var anchors = Path.Combine(dir, "anchors");
        File.WriteAllText(anchors, string.Concat(trustAnchors.Select(a => a.TrimEnd() + "\n")));

        // Empty: the built-in root servers are never asked (every name the tests use is under a stub), and
        // an empty file keeps unbound from even holding their addresses. It logs "no NS content", harmlessly.
        var hints = Path.Combine(dir, "root.hints");
        File.WriteAllText(hints, "");

        var conf = new StringBuilder();
        conf.Append($$"""
            server:
              verbosity: 1
              val-log-level: 2
              use-syslog: no
              logfile: ""
              username: ""
              chroot: ""
              directory: "{{dir}}"
              pidfile: "{{dir}}/unbound.pid"
              interface: {{address}}
              port: {{port}}
              do-ip4: yes
              do-ip6: no
              do-udp: yes
              do-tcp: yes
              num-threads: 1
              access-control: 127.0.0.0/8 allow
              do-not-query-localhost: no
              edns-buffer-size: 1232
              module-config: "validator iterator"
              trust-anchor-file: "{{anchors}}"
              trust-anchor-signaling: no
              root-hints: "{{hints}}"
              harden-referral-path: no
              qname-minimisation: no
              target-fetch-policy: "0 0 0 0 0"

            """);

        // Unbound serves RFC 6761 names (test., invalid., onion., ...) itself as empty static zones, so
        // without this every query for qremote.test is answered NXDOMAIN before the stub is consulted.
        foreach (var tld in stubs.Keys.Select(z => z.TrimEnd('.').Split('.')[^1]).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            conf.Append($"  local-zone: \"{tld}.\" nodefault\n");
        }

        foreach (var zone in insecure)
        {
            conf.Append($"  domain-insecure: \"{zone}\"\n");
        }

        foreach (var (zone, server) in stubs)
        {
            conf.Append($"stub-zone:\n  name: \"{zone}\"\n  stub-addr: {server.Address}@{server.Port}\n");
        }

        var confPath = Path.Combine(dir, "unbound.conf");
        File.WriteAllText(confPath, conf.ToString());

        var process = ExternalProcess.Start(Program, ["-d", "-c", confPath], dir);
        var endpoint = new IPEndPoint(address, port);
        var unbound = new Unbound(process, dir, endpoint);
        try
        {
            WaitFor.TcpListening(endpoint, process);
            WaitFor.Condition(() => process.Output.Contains("start of service", StringComparison.Ordinal), "unbound to start serving");
        }
        catch
        {
            unbound.Dispose();
            throw;
        }

        return unbound;
    }

    /// <summary>resolv.conf text naming this resolver (with our <c>#port</c> extension).</summary>
    public string ResolvConfText(string options = "options timeout:2 attempts:1") =>
        $"nameserver {EndPoint.Address}#{EndPoint.Port}\n{options}\n";

    /// <summary>A resolv.conf file naming this resolver.</summary>
    public string WriteResolvConf(string options = "options timeout:2 attempts:1")
    {
        var path = Path.Combine(Directory, $"resolv.{Guid.NewGuid():N}.conf");
        File.WriteAllText(path, ResolvConfText(options));
        return path;
    }

    public void Dispose()
    {
        _process.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
