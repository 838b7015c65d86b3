using System.Globalization;

namespace QRemote;

/// <summary>
/// The settings of one run, and where they came from. As <c>qmail-remote</c> (<see cref="ProgramRole.QmailRemote"/>)
/// argv is positions only and settings come from the working directory (qmail-rspawn's HOME/queue/mess) and the
/// environment, which is the operator's (qmail-send's), never a remote sender's. As <c>qremote</c> (a person, a
/// test) options may come before <c>host</c>; as <c>qremote-daemon</c> there are options and no positions.
/// </summary>
internal sealed record CommandLine
{
    public const string DefaultQmailHome = "/var/qmail";

    public string QmailHome { get; init; } = DefaultQmailHome;

    /// <summary>Where nameservers come from; <c>/etc/resolv.conf</c> unless overridden.</summary>
    public string ResolvConf { get; init; } = Dns.ResolverConfig.DefaultPath;

    /// <summary>The port for MX and literal deliveries (25). For tests where no network namespace can
    /// give the sink port 25; smtproutes ports are unaffected.</summary>
    public int SmtpPort { get; init; } = 25;

    /// <summary>The port of MTA-STS policy hosts (443). For tests only, as <see cref="SmtpPort"/>.</summary>
    public int HttpsPort { get; init; } = 443;

    public bool Verbose { get; init; }

    public bool Help { get; init; }

    public bool Version { get; init; }

    public bool ShowConfig { get; init; }

    /// <summary>Resolve only: print the route, the addresses in order and why; connect nowhere.</summary>
    public bool Plan { get; init; }

    /// <summary><c>--tls-report</c>: aggregate the TLS report spool and send the reports (docs/tls-reporting.md).</summary>
    public bool TlsReport { get; init; }

    /// <summary><c>--dry-run</c> (with --tls-report): show, send nothing, change nothing.</summary>
    public bool DryRun { get; init; }

    /// <summary><c>--day YYYY-MM-DD</c> (with --tls-report): that UTC day only.</summary>
    public DateOnly? Day { get; init; }

    /// <summary><c>--selftest [NAME]</c>: whether this binary can deliver as qmail runs it (Qmail/SelfTest.cs).</summary>
    public bool SelfTest { get; init; }

    /// <summary><c>--selftest-child</c>: the checks as the user the root <c>--selftest</c> started (never given by hand).</summary>
    public bool SelfTestChild { get; init; }

    /// <summary><c>--socket PATH</c> (the daemon's only): its Unix socket (default: control/qremote-daemon's line,
    /// else <see cref="DefaultSocket"/>).</summary>
    public string? Socket { get; init; }

    public const string DefaultSocket = "/run/qremote/qremote.sock";

    /// <summary>Why the options could not be read, if they could not.</summary>
    public string? Error { get; init; }

    public IReadOnlyList<string> Positional { get; init; } = [];

    public static CommandLine Parse(IReadOnlyList<string> args, Func<string, string?> environment) =>
        Parse(args, environment, null);

    /// <summary>qmail-remote's argv: every argument is a position, whatever it looks like.</summary>
    public static CommandLine ForQmailRemote(IReadOnlyList<string> args, Func<string, string?> environment, string? workingDirectory) =>
        FromEnvironment(environment, workingDirectory) with { Positional = args.ToArray() };

    /// <summary><c>qremote-daemon</c>'s argv: the settings it delivers with (every client must share them), its
    /// socket; no positions.</summary>
    public static CommandLine ForDaemon(IReadOnlyList<string> args, Func<string, string?> environment)
    {
        var command = Parse(args, environment, null, daemon: true);
        return command.Error is null && command.Positional.Count > 0
            ? command with { Error = $"qremote-daemon takes no delivery arguments ({command.Positional.Count} given)" }
            : command;
    }

    private static CommandLine FromEnvironment(Func<string, string?> environment, string? workingDirectory)
    {
        var result = new CommandLine();
        if (HomeFromQueue(workingDirectory) is { } fromQueue)
        {
            result = result with { QmailHome = fromQueue };
        }

        if (environment("QREMOTE_QMAIL_HOME") is { Length: > 0 } home)
        {
            result = result with { QmailHome = home };
        }

        if (environment("QREMOTE_RESOLV_CONF") is { Length: > 0 } resolv)
        {
            result = result with { ResolvConf = resolv };
        }

        if (environment("QREMOTE_SMTP_PORT") is { Length: > 0 } envPort)
        {
            result = TryPort(envPort, out var p) ? result with { SmtpPort = p } : result with { Error = "QREMOTE_SMTP_PORT is not a port" };
        }

        if (environment("QREMOTE_HTTPS_PORT") is { Length: > 0 } envHttps)
        {
            result = TryPort(envHttps, out var p) ? result with { HttpsPort = p } : result with { Error = "QREMOTE_HTTPS_PORT is not a port" };
        }

        return result;
    }

    /// <param name="workingDirectory">Where we were started: qmail-rspawn runs us in <c>HOME/queue/mess</c>, which
    /// gives qmail's home for a qmail installed somewhere other than /var/qmail (netqmail compiles the
    /// home in; a drop-in replacement has to find it).</param>
    public static CommandLine Parse(IReadOnlyList<string> args, Func<string, string?> environment, string? workingDirectory) =>
        Parse(args, environment, workingDirectory, daemon: false);

    private static CommandLine Parse(IReadOnlyList<string> args, Func<string, string?> environment, string? workingDirectory, bool daemon)
    {
        var result = FromEnvironment(environment, workingDirectory);
        var i = 0;
        for (; i < args.Count && args[i].StartsWith("--", StringComparison.Ordinal); i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                i++;
                break;
            }

            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? arg : arg[..eq];
            var value = eq < 0 ? null : arg[(eq + 1)..];
            string Value()
            {
                if (value is not null)
                {
                    return value;
                }

                if (i + 1 < args.Count)
                {
                    return args[++i];
                }

                result = result with { Error = $"{name} needs a value" };
                return "";
            }

            result = name switch
            {
                "--help" => result with { Help = true },
                "--version" => result with { Version = true },
                "--verbose" when !daemon => result with { Verbose = true },
                "--show-config" when !daemon => result with { ShowConfig = true },
                "--plan" when !daemon => result with { Plan = true },
                "--tls-report" when !daemon => result with { TlsReport = true },
                "--dry-run" when !daemon => result with { DryRun = true },
                "--day" when !daemon => DateOnly.TryParseExact(Value(), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day)
                    ? result with { Day = day } : result with { Error = "--day needs a date, YYYY-MM-DD" },
                "--selftest" when !daemon => result with { SelfTest = true },
                "--selftest-child" when !daemon => result with { SelfTest = true, SelfTestChild = true },
                "--socket" when daemon => result with { Socket = Value() },
                "--daemon" when !daemon => result with { Error = "the daemon is its own program now: run qremote-daemon (docs/daemon.md)" },
                "--qmail-home" => result with { QmailHome = Value() },
                "--resolv-conf" => result with { ResolvConf = Value() },
                "--smtp-port" => TryPort(Value(), out var port) ? result with { SmtpPort = port } : result with { Error = "--smtp-port needs a port number" },
                "--https-port" => TryPort(Value(), out var https) ? result with { HttpsPort = https } : result with { Error = "--https-port needs a port number" },
                _ => result with { Error = $"unknown option {name}" },
            };
        }

        return result with { Positional = args.Skip(i).ToArray() };
    }

    /// <summary>HOME when <paramref name="directory"/> is HOME/queue/mess and HOME/control exists.</summary>
    public static string? HomeFromQueue(string? directory)
    {
        const string suffix = "/queue/mess";
        if (directory is null || !directory.TrimEnd('/').EndsWith(suffix, StringComparison.Ordinal))
        {
            return null;
        }

        var home = directory.TrimEnd('/')[..^suffix.Length];
        return home.Length > 0 && Directory.Exists(Path.Combine(home, "control")) ? home : null;
    }

    private static bool TryPort(string s, out int port) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and < 65536;

    public const string Usage = """
        usage: qremote [--option ...] host sender recipient [recipient ...]

        A drop-in qmail-remote: delivers the message on stdin to host by SMTP and writes
        qmail-remote's report (one r/h/s per recipient, then K/Z/D) on stdout.
        host is a domain (mail goes to its MX) or a literal [1.2.3.4] / [IPv6:...].

        options (only before host):
          --help               this text
          --version            the version
          --verbose            the SMTP transcript on stderr (never under qmail)
          --show-config        the control files read, their values and sources; no delivery
          --plan HOST [RECIP]  resolve only: the route, the addresses in order, DNSSEC; no connection
          --tls-report         send the TLS reports (RFC 8460) of the days completed since the last run
                               (docs/tls-reporting.md); with --dry-run: show them, send nothing;
                               with --day YYYY-MM-DD: that UTC day only
          --selftest [NAME]    can this binary deliver as qmail runs it (as qmailr when run as root):
                               control files, a DNS lookup of NAME (default helohost), TLS; exit 0 if so
          --qmail-home DIR     qmail's home (default: HOME when run in HOME/queue/mess, as
                               qmail-rspawn runs it, else /var/qmail; env QREMOTE_QMAIL_HOME)
          --resolv-conf FILE   nameservers (default /etc/resolv.conf; env QREMOTE_RESOLV_CONF)
          --smtp-port N        port for MX and [ip] deliveries (default 25; env QREMOTE_SMTP_PORT)
          --https-port N       port of MTA-STS policy hosts (default 443; env QREMOTE_HTTPS_PORT)

        Options are read only under this name (qremote). Started as qmail-remote (the name
        qmail-rspawn runs), every argument is a position, whatever it looks like.
        The resident daemon is qremote-daemon [--qmail-home DIR] [--resolv-conf FILE] [--socket PATH]
        (docs/daemon.md).

        example:
          echo 'Subject: test' | qremote example.org me@example.com you@example.org
        """;
}
