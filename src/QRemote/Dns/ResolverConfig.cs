using System.Globalization;
using System.Net;

namespace QRemote.Dns;

/// <summary>
/// Nameservers and timeouts from <c>/etc/resolv.conf</c>, parsed by us. ARSoft's own reader falls
/// back to public resolvers when the file lists none; an MTA must never switch resolvers
/// silently, so with no <c>nameserver</c> line we use what libc uses: 127.0.0.1 and ::1.
/// </summary>
internal sealed record ResolverConfig(IReadOnlyList<IPEndPoint> Servers, TimeSpan Timeout, int Attempts)
{
    /// <summary>resolv.conf had <c>options trust-ad</c>: the operator vouches for the path to every nameserver.</summary>
    public bool TrustAdOption { get; init; }

    /// <summary>
    /// Whether the AD bit of an answer means anything (DANE and the secure-route checks rest on it). The AD bit is one
    /// unsigned header bit: anyone on the path between us and the resolver can set it. glibc (2.31+) believes it only
    /// with <c>options trust-ad</c>; QRemote also believes it when every nameserver is on this host (127.0.0.0/8,
    /// ::1), where there is no path to forge on. Otherwise <see cref="DnsLookup"/> clears it on every answer: all
    /// answers are insecure, so DANE never applies and a forged TLSA record cannot choose the key.
    /// </summary>
    public AdTrust AdTrust =>
        TrustAdOption ? AdTrust.TrustAdOption
        : Servers.All(s => IPAddress.IsLoopback(s.Address)) ? AdTrust.Loopback
        : AdTrust.Ignored;

    public const string DefaultPath = "/etc/resolv.conf";
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);
    public const int DefaultAttempts = 2;

    /// <summary>libc's fallback when resolv.conf names no server.</summary>
    public static IReadOnlyList<IPEndPoint> LoopbackServers { get; } =
        [new IPEndPoint(IPAddress.Loopback, 53), new IPEndPoint(IPAddress.IPv6Loopback, 53)];

    /// <summary>Reads <paramref name="path"/>; a missing file gives libc's defaults.</summary>
    public static ResolverConfig Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            text = "";
        }

        return Parse(text);
    }

    /// <summary>
    /// The subset of resolv.conf(5) a stub needs: <c>nameserver ADDR</c> (at most 3, as libc;
    /// an address may carry a port in our override files as <c>ADDR#PORT</c> or <c>[ADDR]:PORT</c>),
    /// <c>options timeout:N attempts:N trust-ad</c>. Everything else is ignored.
    /// </summary>
    public static ResolverConfig Parse(string text)
    {
        var servers = new List<IPEndPoint>();
        var timeout = DefaultTimeout;
        var attempts = DefaultAttempts;
        var trustAd = false;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw;
            var comment = line.IndexOfAny(['#', ';']);
            if (comment >= 0 && !line.TrimStart().StartsWith("nameserver", StringComparison.Ordinal))
            {
                line = line[..comment];
            }

            var words = line.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length < 2)
            {
                continue;
            }

            switch (words[0])
            {
                case "nameserver" when servers.Count < 3 && TryParseServer(words[1], out var server):
                    servers.Add(server);
                    break;
                case "options":
                    foreach (var option in words.Skip(1))
                    {
                        if (TryOption(option, "timeout:", out var t) && t > 0)
                        {
                            timeout = TimeSpan.FromSeconds(Math.Min(t, 30));
                        }
                        else if (TryOption(option, "attempts:", out var a) && a > 0)
                        {
                            attempts = Math.Min(a, 5);
                        }
                        else if (option == "trust-ad")
                        {
                            trustAd = true;
                        }
                    }

                    break;
            }
        }

        return new ResolverConfig(servers.Count > 0 ? servers : LoopbackServers, timeout, attempts) { TrustAdOption = trustAd };
    }

    public static bool TryParseServer(string word, out IPEndPoint server)
    {
        server = null!;
        var port = 53;
        var address = word;
        var hash = word.IndexOf('#', StringComparison.Ordinal);
        if (hash >= 0)
        {
            if (!int.TryParse(word.AsSpan(hash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port))
            {
                return false;
            }

            address = word[..hash];
        }
        else if (word.StartsWith('[') && word.Contains("]:", StringComparison.Ordinal))
        {
            var close = word.IndexOf("]:", StringComparison.Ordinal);
            if (!int.TryParse(word.AsSpan(close + 2), NumberStyles.None, CultureInfo.InvariantCulture, out port))
            {
                return false;
            }

            address = word[1..close];
        }

        // Strip an IPv6 zone ("fe80::1%eth0") only if it parses with it; IPAddress handles scope ids.
        if (!IPAddress.TryParse(address, out var ip) || port is <= 0 or > 65535)
        {
            return false;
        }

        server = new IPEndPoint(ip, port);
        return true;
    }

    private static bool TryOption(string option, string prefix, out int value)
    {
        value = 0;
        return option.StartsWith(prefix, StringComparison.Ordinal)
            && int.TryParse(option.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out value);
    }
}
