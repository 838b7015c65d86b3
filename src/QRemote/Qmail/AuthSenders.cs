namespace QRemote.Qmail;

/// <summary>
/// <c>control/authsenders</c>, s/qmail's per-sender routes: lines <c>sender[:relay[:port]][|user|password]</c>
/// (docs/control-files.md). The sender key is an address (<c>info@example.com</c>), a domain (<c>@example.com</c>),
/// a domain suffix (<c>.example.com</c>, every subdomain) or empty (every sender). The lookup is smtproutes' applied
/// to the envelope sender, with <c>@</c> as a boundary too: the whole address, then each suffix starting at
/// <c>@</c> or a dot, longest first, then the empty key; case-insensitive; the last line of a key wins. The bounce
/// sender (empty) can match only the empty key. A match wins over smtproutes for that sender; a line without a
/// relay lends its credentials to the smtproutes relay of the recipient host (never to an MX), or, without
/// credentials too, exempts the sender from the lines after it in the lookup (an empty key, say).
/// </summary>
internal sealed class AuthSenders
{
    public const string FileName = "authsenders";

    public static AuthSenders Empty { get; } = new([]);

    private readonly Dictionary<string, SenderRoute> _routes;

    /// <summary>No key is longer, so no longer suffix of a sender is looked up: a sender of 128 KB of dots costs one
    /// pass, not a lookup of each of its suffixes.</summary>
    private readonly int _longestKey;

    private AuthSenders(Dictionary<string, SenderRoute> routes)
    {
        _routes = routes;
        _longestKey = routes.Count == 0 ? 0 : routes.Keys.Max(k => k.Length);
    }

    public int Count => _routes.Count;

    /// <summary>
    /// Lines this cannot read are ignored, as qmail ignores an smtproutes line without a colon: a line with neither
    /// <c>:</c> nor <c>|</c>, one with a control character (a CR inside, a NUL), credentials without both a user and a
    /// password (<c>|user</c>), a relay with white space in it. <c>relay;port</c> (s/qmail 4's spelling) is read
    /// as <c>relay:port</c>.
    /// </summary>
    public static AuthSenders Parse(IEnumerable<string> lines)
    {
        var routes = new Dictionary<string, SenderRoute>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines)
        {
            if (ParseLine(line) is { } parsed)
            {
                routes[parsed.Key] = parsed.Route;
            }
        }

        return new AuthSenders(routes);
    }

    /// <summary>The line for <paramref name="sender"/> (the envelope sender as qmail gives it, empty for a bounce), or null.</summary>
    public SenderRoute? Find(string sender)
    {
        if (_routes.Count == 0)
        {
            return null;
        }

        for (var i = 0; i <= sender.Length; i++)
        {
            if ((i == 0 || i == sender.Length || sender[i] is '@' or '.') && sender.Length - i <= _longestKey
                && _routes.TryGetValue(i == sender.Length ? "" : sender[i..], out var route))
            {
                return route;
            }
        }

        return null;
    }

    /// <summary>
    /// The route for mail from <paramref name="sender"/> to <paramref name="host"/>: the sender's relay (with its
    /// credentials, if any); or the smtproutes route of <paramref name="host"/> with the sender's credentials; or,
    /// for a sender without a line, smtproutes alone. Null: by MX. Credentials of a line without a relay never go to
    /// an MX: a password for one's own relay is no recipient's business.
    /// </summary>
    public SmtpRoute? RouteFor(string sender, string host, SmtpRoutes smtproutes)
    {
        if (Find(sender) is not { } match)
        {
            return smtproutes.Find(host);
        }

        if (match.Relay is { } relay)
        {
            return relay;
        }

        var byHost = smtproutes.Find(host);
        return match.User is null || byHost is null ? byHost : byHost with { User = match.User, Password = match.Password, Source = FileName };
    }

    private static (string Key, SenderRoute Route)? ParseLine(string line)
    {
        if (HasControl(line))
        {
            return null;
        }

        string? user = null, password = null;
        var head = line;
        var bar = line.IndexOf('|', StringComparison.Ordinal);
        if (bar >= 0)
        {
            head = line[..bar];
            var credentials = line[(bar + 1)..];
            var second = credentials.IndexOf('|', StringComparison.Ordinal);
            if (second <= 0 || second == credentials.Length - 1)
            {
                // "|user" alone, "||password", "|user|": half a credential is no credential, and a guess would send
                // the mail to the relay unauthenticated.
                return null;
            }

            user = credentials[..second];
            password = credentials[(second + 1)..];
        }

        var colon = head.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 && bar < 0)
        {
            return null;
        }

        var key = colon < 0 ? head : head[..colon];
        if (key.AsSpan().IndexOfAny(' ', '\t') >= 0)
        {
            return null;
        }

        SmtpRoute? relay = null;
        if (colon >= 0)
        {
            var target = head[(colon + 1)..];
            if (target.AsSpan().IndexOfAny(' ', '\t') >= 0)
            {
                return null;
            }

            relay = SmtpRoutes.ParseTarget(SemicolonPort(target));
        }

        relay = relay is null ? null : relay with { User = user, Password = password, Source = FileName };
        return (key, new SenderRoute(relay, user, password));
    }

    /// <summary>Tabs are white space in a control file; every other control character makes the line unreadable.</summary>
    private static bool HasControl(string line)
    {
        foreach (var c in line)
        {
            if (c is < ' ' and not '\t' or '\x7f')
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>s/qmail 4 writes <c>relay;port</c>, so that a bare IPv6 address can be the relay: read as
    /// <c>relay:port</c>, a bare IPv6 address as the literal <c>[IPv6:...]</c>.</summary>
    private static string SemicolonPort(string target)
    {
        var semicolon = target.LastIndexOf(';');
        if (semicolon < 0)
        {
            return target;
        }

        var relay = target[..semicolon];
        if (System.Net.IPAddress.TryParse(relay, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !relay.StartsWith('['))
        {
            relay = $"[IPv6:{relay}]";
        }

        return relay + ":" + target[(semicolon + 1)..];
    }
}
