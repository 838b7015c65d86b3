using System.Net;
using System.Text;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// A real BIND9 (<c>named -g</c>) on a loopback port, authoritative for zones the tests write,
/// one of them DNSSEC-signed with RSA keys so that answers with RRSIGs are big. Its query log is
/// kept so tests can see what QRemote asked (type, and TCP or UDP).
/// </summary>
internal sealed class Bind : IDisposable
{
    public const string Named = "/usr/sbin/named";
    private readonly ExternalProcess _process;

    private Bind(ExternalProcess process, string directory, IPEndPoint endpoint)
    {
        _process = process;
        Directory = directory;
        EndPoint = endpoint;
    }

    public string Directory { get; }

    public IPEndPoint EndPoint { get; }

    /// <summary>Starts named with the given zones. <paramref name="signed"/> names zones to sign; a zone whose text
    /// is null is declared with a file that does not parse, so named answers SERVFAIL for it.</summary>
    public static Bind Start(IReadOnlyDictionary<string, string?> zones, IReadOnlySet<string> signed, IPAddress? address = null, int? port = null, NetworkNamespace? netns = null)
    {
        foreach (var tool in new[] { Named, "/usr/bin/dnssec-keygen", "/usr/bin/dnssec-signzone" })
        {
            if (!File.Exists(tool))
            {
                Assert.Fail($"{tool} is missing: install Debian's bind9 and bind9-utils (.ci/run does)");
            }
        }

        address ??= IPAddress.Loopback;
        var dir = System.IO.Directory.CreateTempSubdirectory("qremote-bind-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_111_101);
        var conf = new StringBuilder();
        var listenPort = port ?? (netns is null ? FreePort.TcpAndUdp(address) : 53);
        var v6 = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        conf.Append($$"""
            options {
              directory "{{dir}}";
              pid-file "{{dir}}/named.pid";
              listen-on port {{listenPort}} { {{(v6 ? "none" : address.ToString())}}; };
              listen-on-v6 port {{listenPort}} { {{(v6 ? address.ToString() : "none")}}; };
              recursion no;
              dnssec-validation no;
              notify no;
              allow-transfer { none; };
              edns-udp-size 1232;
              max-udp-size 1232;
              minimal-responses no;
              querylog yes;
            };
            controls { };
            logging {
              channel d { stderr; severity info; };
              category queries { d; };
              category default { d; };
            };

            """);
        foreach (var (name, text) in zones)
        {
            var file = Path.Combine(dir, name + ".zone");
            if (text is null)
            {
                File.WriteAllText(file, "this is not a zone file\n");
            }
            else
            {
                File.WriteAllText(file, text);
                if (signed.Contains(name))
                {
                    file = Sign(dir, name, file);
                }
            }

            conf.Append($$"""zone "{{name}}." { type primary; file "{{file}}"; };""").Append('\n');
        }

        var confPath = Path.Combine(dir, "named.conf");
        File.WriteAllText(confPath, conf.ToString());
        foreach (var f in System.IO.Directory.GetFiles(dir))
        {
            File.SetUnixFileMode(f, (UnixFileMode)0b110_110_100);
        }

        var args = new List<string> { "-g", "-c", confPath, "-n", "1" };
        if (Environment.UserName == "root")
        {
            // named drops to this user after binding; the directory stays readable to it.
            args.AddRange(["-u", "root"]);
        }

        var process = netns is null ? ExternalProcess.Start(Named, args, dir) : netns.Start(Named, args, dir);
        var endpoint = new IPEndPoint(address, listenPort);
        var bind = new Bind(process, dir, endpoint);
        if (netns is null)
        {
            WaitFor.TcpListening(endpoint, process);
        }
        else
        {
            netns.WaitForListener(address.ToString(), listenPort, process);
        }

        WaitFor.Condition(() => process.Output.Contains("running", StringComparison.Ordinal), "named to finish loading");
        return bind;
    }

    /// <summary>A resolv.conf naming this server (with our <c>#port</c> extension).</summary>
    public string WriteResolvConf(string? options = "options timeout:2 attempts:1")
    {
        var path = Path.Combine(Directory, $"resolv.{Guid.NewGuid():N}.conf");
        var host = EndPoint.Address.ToString();
        File.WriteAllText(path, $"nameserver {host}#{EndPoint.Port}\n{options}\n");
        return path;
    }

    /// <summary>The query log lines (named -g writes them to stderr, unbuffered): "client ... query: NAME IN TYPE +flags (addr)".</summary>
    public IReadOnlyList<string> QueryLog() =>
        Output.Split('\n').Where(l => l.Contains(" query: ", StringComparison.Ordinal)).ToList();

    public string Output => _process.Output;

    /// <summary>The key-signing key of a zone this server signed, as the DNSKEY record dnssec-keygen wrote
    /// (<c>zone. IN DNSKEY 257 3 8 ...</c>): a trust anchor for a validating resolver.</summary>
    public string KeySigningKey(string zone) =>
        System.IO.Directory.GetFiles(Path.Combine(Directory, "keys-" + zone), "*.key")
            .SelectMany(File.ReadAllLines)
            .Single(l => !l.StartsWith(';') && l.Contains(" DNSKEY 257 ", StringComparison.Ordinal));

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

    private static string Sign(string dir, string zone, string file)
    {
        var keys = Path.Combine(dir, "keys-" + zone);
        System.IO.Directory.CreateDirectory(keys);
        var zsk = ExternalProcess.Run("/usr/bin/dnssec-keygen", "-q", "-K", keys, "-a", "RSASHA256", "-b", "2048", "-n", "ZONE", zone).Trim();
        var ksk = ExternalProcess.Run("/usr/bin/dnssec-keygen", "-q", "-K", keys, "-a", "RSASHA256", "-b", "2048", "-f", "KSK", "-n", "ZONE", zone).Trim();
        File.AppendAllText(file, $"$INCLUDE {keys}/{zsk}.key\n$INCLUDE {keys}/{ksk}.key\n");
        var output = file + ".signed";
        ExternalProcess.Run("/usr/bin/dnssec-signzone", "-q", "-K", keys, "-o", zone, "-f", output, "-e", "+31536000", file, $"{keys}/{zsk}.private", $"{keys}/{ksk}.private");
        return output;
    }
}
