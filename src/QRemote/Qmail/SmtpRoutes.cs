using System.Globalization;

namespace QRemote.Qmail;

/// <summary>
/// <c>control/smtproutes</c>: lines <c>domain:relay[:port [user password]]</c>. The lookup is qmail's:
/// the whole host first, then each suffix starting at a dot (<c>.example.com</c> matches every
/// subdomain), then the empty key (the default route); case-insensitive; when a key is given
/// twice the last line wins. An empty relay means "use MX" and stops the search. Lines without a
/// colon are ignored, as qmail ignores them.
/// </summary>
internal sealed class SmtpRoutes
{
    private readonly Dictionary<string, SmtpRoute?> _routes;

    /// <summary>No key is longer: a longer suffix of the host is never looked up (a host argument of 128 KB of dots
    /// would otherwise cost a lookup of each of its suffixes, each as long as the rest).</summary>
    private readonly int _longestKey;

    private SmtpRoutes(Dictionary<string, SmtpRoute?> routes)
    {
        _routes = routes;
        _longestKey = routes.Count == 0 ? 0 : routes.Keys.Max(k => k.Length);
    }

    public static SmtpRoutes Parse(IEnumerable<string> lines)
    {
        var routes = new Dictionary<string, SmtpRoute?>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines)
        {
            var colon = FindColon(line, 0);
            if (colon < 0)
            {
                continue;
            }

            var domain = line[..colon];
            routes[domain] = ParseTarget(line[(colon + 1)..]);
        }

        return new SmtpRoutes(routes);
    }

    /// <summary>The route for <paramref name="host"/>; null when mail for it goes by MX.</summary>
    public SmtpRoute? Find(string host)
    {
        if (_routes.Count == 0)
        {
            return null;
        }

        for (var i = 0; i <= host.Length; i++)
        {
            if ((i == 0 || i == host.Length || host[i] == '.') && host.Length - i <= _longestKey)
            {
                if (_routes.TryGetValue(host[i..], out var route))
                {
                    return route;
                }
            }
        }

        return null;
    }

    /// <summary><c>relay[:port][ user password]</c>; null for an empty relay ("by MX").</summary>
    internal static SmtpRoute? ParseTarget(string target)
    {
        // "relay:port user password"; the relay may be a bracketed IPv6 literal holding colons.
        string? user = null, password = null;
        var space = target.IndexOfAny([' ', '\t']);
        if (space >= 0)
        {
            var credentials = target[(space + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            user = credentials.Length > 0 ? credentials[0] : null;
            password = credentials.Length > 1 ? credentials[1] : null;
            target = target[..space];
        }

        var colon = FindColon(target, 0);
        var relay = colon < 0 ? target : target[..colon];
        var port = 25;
        if (colon >= 0)
        {
            // qmail reads the port with scan_ulong: leading digits, anything else ignored.
            var digits = target.AsSpan(colon + 1);
            var n = 0;
            while (n < digits.Length && char.IsAsciiDigit(digits[n]))
            {
                n++;
            }

            if (n > 0 && int.TryParse(digits[..n], NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536)
            {
                port = p;
            }
        }

        return relay.Length == 0 ? null : new SmtpRoute(relay, port, user, password);
    }

    /// <summary>The next colon outside a bracketed literal.</summary>
    private static int FindColon(string s, int from)
    {
        var depth = 0;
        for (var i = from; i < s.Length; i++)
        {
            switch (s[i])
            {
                case '[': depth++; break;
                case ']': depth = Math.Max(0, depth - 1); break;
                case ':' when depth == 0: return i;
            }
        }

        return -1;
    }
}
