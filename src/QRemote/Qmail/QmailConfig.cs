namespace QRemote.Qmail;

/// <summary>
/// Everything qmail-remote reads from <c>control/</c>, read once per invocation. A missing file
/// means its default; one that exists but cannot be read, or a missing <c>helohost</c> with no
/// <c>me</c> to fall back on, is <see cref="ControlFileException"/> (the caller reports Z #4.3.0).
/// </summary>
internal sealed record QmailConfig
{
    public const int DefaultTimeoutConnect = 60;
    public const int DefaultTimeoutRemote = 1200;

    /// <summary>The most seconds <c>timeoutconnect</c> and <c>timeoutremote</c> may give: one day. Past 2,147,483 s the
    /// millisecond count of a socket timeout or a CancelAfter overflows and every delivery would throw; no SMTP server
    /// takes a day to answer, and qmail-send's queuelifetime is a week.</summary>
    public const int MaxTimeout = 86_400;

    /// <summary>The name we give in EHLO/HELO: <c>helohost</c>, else <c>me</c>.</summary>
    public required string HeloHost { get; init; }

    public required SmtpRoutes Routes { get; init; }

    /// <summary><c>control/authsenders</c> (s/qmail): routes and credentials by envelope sender, before smtproutes.</summary>
    public AuthSenders AuthSenders { get; init; } = AuthSenders.Empty;

    /// <summary>Seconds to wait for a TCP connection (<c>timeoutconnect</c>).</summary>
    public int TimeoutConnect { get; init; } = DefaultTimeoutConnect;

    /// <summary>Seconds to wait for each read or write on the connection (<c>timeoutremote</c>).</summary>
    public int TimeoutRemote { get; init; } = DefaultTimeoutRemote;

    /// <summary>Rewrite recipient domains to the end of their CNAME chain (RFC 1123 5.2.2, obsolete):
    /// on only when <c>control/qremote-canonicalize</c> holds 1.</summary>
    public bool CanonicalizeRecipients { get; init; }

    /// <summary>Honour <c>Require-TLS-ESMTP: yes</c> in a message's header as MAIL's REQUIRETLS (RFC 8689, docs/tls.md): on
    /// only when <c>control/qremote-requiretls</c> holds 1.</summary>
    public bool RequireTls { get; init; }

    /// <summary>Whether this message's delivery is under REQUIRETLS: the switch is on and the header asks for it.</summary>
    public bool RequiresTls(Message.MessageFacts facts) => RequireTls && facts.RequireTlsEsmtp;

    /// <summary><c>control/clientcert.pem</c> (qmail's TLS patch): the certificate and key offered to servers that ask,
    /// when the file exists. Read when a handshake needs it.</summary>
    public string? ClientCertificatePath { get; init; }

    /// <summary><c>control/tlsclientciphers</c> (qmail's TLS patch): an OpenSSL cipher list for TLS 1.2; null for the default.</summary>
    public string? TlsClientCiphers { get; init; }

    /// <summary><c>control/outgoingip</c>: the source addresses to bind, at most one per address family.</summary>
    public IReadOnlyList<System.Net.IPAddress> OutgoingIps { get; init; } = [];

    /// <summary><c>control/qremote-mta-sts-cache</c>: the directory of cached MTA-STS policies (docs/mta-sts.md).</summary>
    public string MtaStsCacheDirectory { get; init; } = DefaultMtaStsCache;

    public const string DefaultMtaStsCache = "/var/cache/qremote/mta-sts";

    /// <summary>The control files consulted, with the value used and where it came from (for --show-config).</summary>
    public IReadOnlyList<ControlSetting> Settings { get; init; } = [];

    public static QmailConfig Load(ControlFiles control)
    {
        var settings = new List<ControlSetting>();

        var me = control.ReadLine("me");
        var helo = control.ReadLine("helohost");
        settings.Add(new("me", me ?? "(none)", me is null ? "missing" : "file"));
        var heloHost = helo ?? me ?? throw new ControlFileException(
            Path.Combine(control.Directory, "helohost"), new FileNotFoundException("neither helohost nor me exists"));
        if (heloHost.AsSpan().IndexOfAnyInRange('\0', ' ') >= 0 || heloHost.Contains('\x7f', StringComparison.Ordinal))
        {
            // A CR or LF would end the EHLO line and start a command of the file's choosing: never sent.
            throw new ControlFileException(Path.Combine(control.Directory, helo is null ? "me" : "helohost"),
                new InvalidDataException("the host name holds a space or a control character"));
        }
        settings.Add(new("helohost", heloHost, helo is null ? "from me" : "file"));

        var routeLines = control.ReadLines("smtproutes");
        var routes = SmtpRoutes.Parse(routeLines);
        settings.Add(new("smtproutes", routeLines.Count == 0 ? "(none)" : string.Join("; ", routeLines.Select(SmtpRouteDisplay.WithoutPassword)), control.Exists("smtproutes") ? "file" : "missing"));

        var senderLines = control.ReadLines(AuthSenders.FileName);
        settings.Add(new(AuthSenders.FileName, senderLines.Count == 0 ? "(none)" : string.Join("; ", senderLines.Select(SmtpRouteDisplay.AuthSenderWithoutPassword)),
            control.Exists(AuthSenders.FileName) ? "file" : "missing"));

        var timeoutConnect = Math.Clamp(control.ReadInt("timeoutconnect", DefaultTimeoutConnect), 1, MaxTimeout);
        settings.Add(new("timeoutconnect", timeoutConnect.ToString(System.Globalization.CultureInfo.InvariantCulture), control.Exists("timeoutconnect") ? "file" : "default"));
        var timeoutRemote = Math.Clamp(control.ReadInt("timeoutremote", DefaultTimeoutRemote), 1, MaxTimeout);
        settings.Add(new("timeoutremote", timeoutRemote.ToString(System.Globalization.CultureInfo.InvariantCulture), control.Exists("timeoutremote") ? "file" : "default"));

        var canonicalize = control.ReadInt("qremote-canonicalize", 0) == 1;
        settings.Add(new("qremote-canonicalize", canonicalize ? "1" : "0", control.Exists("qremote-canonicalize") ? "file" : "default"));

        var requireTls = control.ReadInt("qremote-requiretls", 0) == 1;
        settings.Add(new("qremote-requiretls", requireTls ? "1" : "0", control.Exists("qremote-requiretls") ? "file" : "default"));

        var clientCert = control.Exists("clientcert.pem") ? Path.Combine(control.Directory, "clientcert.pem") : null;
        settings.Add(new("clientcert.pem", clientCert ?? "(none)", clientCert is null ? "missing" : "file"));
        var ciphers = control.ReadLine("tlsclientciphers");
        settings.Add(new("tlsclientciphers", ciphers ?? "(OpenSSL's default)", ciphers is null ? "missing" : "file"));

        // One address per family: the first of each is used; anything that is not an address is refused
        // (binding to a guess could send mail from the wrong place).
        var outgoing = new List<System.Net.IPAddress>();
        foreach (var line in control.ReadLines("outgoingip"))
        {
            if (!System.Net.IPAddress.TryParse(line.Trim(), out var ip))
            {
                throw new ControlFileException(Path.Combine(control.Directory, "outgoingip"), new InvalidDataException($"not an IP address: {line}"));
            }

            if (!outgoing.Any(o => o.AddressFamily == ip.AddressFamily))
            {
                outgoing.Add(ip);
            }
        }

        settings.Add(new("outgoingip", outgoing.Count == 0 ? "(any)" : string.Join(" ", outgoing), control.Exists("outgoingip") ? "file" : "missing"));
        var stsCache = control.ReadLine("qremote-mta-sts-cache");
        settings.Add(new("qremote-mta-sts-cache", stsCache ?? DefaultMtaStsCache, stsCache is null ? "default" : "file"));

        return new QmailConfig
        {
            ClientCertificatePath = clientCert,
            TlsClientCiphers = string.IsNullOrWhiteSpace(ciphers) ? null : ciphers.Trim(),
            OutgoingIps = outgoing,
            MtaStsCacheDirectory = string.IsNullOrWhiteSpace(stsCache) ? DefaultMtaStsCache : stsCache.Trim(),
            HeloHost = heloHost,
            Routes = routes,
            AuthSenders = AuthSenders.Parse(senderLines),
            TimeoutConnect = timeoutConnect,
            TimeoutRemote = timeoutRemote,
            CanonicalizeRecipients = canonicalize,
            RequireTls = requireTls,
            Settings = settings,
        };
    }
}
