using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using QRemote.Dns;
using QRemote.Logging;
using QRemote.Posix;
using QRemote.Tls;

namespace QRemote.Qmail;

/// <summary>
/// <c>qremote --selftest [NAME]</c>: whether this binary can deliver as qmail-rspawn would run it (notqmail #244: a
/// missing or broken remote agent bounces mail), one line per check on stdout, exit 0 only if every check passed.
/// Run as root, it runs itself again as qmailr (from /etc/passwd) with qmail's environment (nothing but
/// <c>PATH</c>) in <c>QMAILHOME/queue/mess</c>, and that child makes the checks; run as anyone else, it makes them as
/// that user and says so. The checks: every control file a delivery reads (qmail's rules: missing is the default,
/// unreadable is a failure), a real lookup through the configured resolver (and whether its AD bit is believed),
/// and what TLS needs (libssl, the system trust store, <c>control/clientcert.pem</c> when there is one).
/// Installing runs it before switching the qmail-remote symlink (docs/install.md).
/// </summary>
internal static class SelfTest
{
    /// <summary>The user qmail-rspawn runs qmail-remote as.</summary>
    public const string QmailUser = "qmailr";

    /// <summary>Overrides <see cref="QmailUser"/> (a qmail built with other user names, and the tests).</summary>
    public const string UserVariable = "QREMOTE_SELFTEST_USER";

    /// <summary>How long the checks as qmailr may take: the DNS lookup is the slow one (resolv.conf's timeout times
    /// attempts, for each question).</summary>
    public static readonly TimeSpan ChildTime = TimeSpan.FromSeconds(90);

    /// <summary>Every control file a delivery may read (QmailConfig, the log, the daemon's socket, the TLS policy).</summary>
    public static readonly string[] ControlFileNames =
    [
        "me", "helohost", "smtproutes", "timeoutconnect", "timeoutremote", "qremote-canonicalize", "clientcert.pem",
        "tlsclientciphers", "outgoingip", "qremote-mta-sts-cache", LogSettings.ControlFile, "qremote-daemon",
        "qremote-auth-unverified", "qremote-requiretls", AuthSenders.FileName, TlsReportTarget.ControlFile,
    ];

    /// <summary>Files that may hold a password or a key: said to be readable, their contents never shown.</summary>
    private static readonly string[] SecretFileNames = ["clientcert.pem", "smtproutes", AuthSenders.FileName];

    /// <summary>Directories of per-host files (qmail's TLS patch): each must be listable and its files readable.</summary>
    public static readonly string[] ControlDirectoryNames = ["tlshosts", "notlshosts"];

    public static int Run(CommandLine command, TextWriter stdout)
    {
        var name = command.Positional.Count > 0 ? command.Positional[0] : null;
        if (Libc.Geteuid() == 0 && !command.SelfTestChild)
        {
            return RunAsQmailUser(command, name, stdout);
        }

        if (!command.SelfTestChild)
        {
            stdout.WriteLine($"note: not root: the checks are made as uid {Libc.Geteuid()}, not as {QmailUser} with qmail's empty environment; run as root for that");
        }

        var checks = Checks(command, name);
        foreach (var check in checks)
        {
            stdout.WriteLine(check);
        }

        return checks.All(c => c.Ok) ? 0 : 1;
    }

    /// <summary>The checks, made by this process as it is.</summary>
    public static IReadOnlyList<SelfTestCheck> Checks(CommandLine command, string? name)
    {
        var checks = new List<SelfTestCheck>
        {
            SelfTestCheck.Pass("process", $"uid {Libc.Geteuid()}, environment {EnvironmentNames()}, working directory {WorkingDirectory()}"),
        };
        var control = new ControlFiles(Path.Combine(command.QmailHome, "control"));
        checks.AddRange(ControlFileChecks(control));
        QmailConfig? config = null;
        try
        {
            config = QmailConfig.Load(control);
            _ = LogSettings.Load(control);
            checks.Add(SelfTestCheck.Pass("control files", $"{control.Directory}: every setting reads (helohost {config.HeloHost})"));
        }
        catch (ControlFileException e)
        {
            checks.Add(SelfTestCheck.Fail("control files", $"{e.Message}: every delivery would defer (Unable to read control files)"));
        }

        // With the settings unreadable, the name still comes from whichever of helohost and me can be read.
        checks.AddRange(ResolverChecks(command, name ?? config?.HeloHost ?? TryReadLine(control, "helohost") ?? TryReadLine(control, "me")));
        checks.AddRange(TlsChecks(config));
        return checks;
    }

    private static IEnumerable<SelfTestCheck> ControlFileChecks(ControlFiles control)
    {
        if (!Directory.Exists(control.Directory))
        {
            yield return SelfTestCheck.Fail("control", $"{control.Directory} does not exist or cannot be reached");
            yield break;
        }

        var missing = new List<string>();
        foreach (var file in ControlFileNames)
        {
            string? line = null;
            string? unreadable = null;
            try
            {
                line = control.ReadLine(file);
            }
            catch (ControlFileException e)
            {
                unreadable = Innermost(e);
            }

            if (unreadable is not null)
            {
                yield return SelfTestCheck.Fail($"control/{file}", $"exists but cannot be read ({unreadable}): every delivery would defer");
            }
            else if (line is null)
            {
                missing.Add(file);
            }
            else
            {
                yield return SelfTestCheck.Pass($"control/{file}", SecretFileNames.Contains(file) ? "readable" : $"readable: {Shorten(line)}");
            }
        }

        if (missing.Count > 0)
        {
            yield return SelfTestCheck.Pass("control", $"missing, so their defaults: {string.Join(' ', missing)}");
        }

        foreach (var directory in ControlDirectoryNames)
        {
            var path = Path.Combine(control.Directory, directory);
            if (!Directory.Exists(path))
            {
                continue;
            }

            SelfTestCheck result;
            try
            {
                var files = Directory.GetFiles(path);
                var unreadable = files.Where(f => !CanRead(f)).Select(Path.GetFileName).ToList();
                result = unreadable.Count == 0
                    ? SelfTestCheck.Pass($"control/{directory}/", $"{files.Length} file(s), all readable")
                    : SelfTestCheck.Fail($"control/{directory}/", $"cannot read {string.Join(' ', unreadable)}");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                result = SelfTestCheck.Fail($"control/{directory}/", $"cannot be listed ({e.Message})");
            }

            yield return result;
        }
    }

    private static List<SelfTestCheck> ResolverChecks(CommandLine command, string? name)
    {
        ResolverConfig resolver;
        try
        {
            resolver = ResolverConfig.Load(command.ResolvConf);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [SelfTestCheck.Fail("resolver", $"{command.ResolvConf} cannot be read ({e.Message})")];
        }

        var servers = string.Join(' ', resolver.Servers);
        var checks = new List<SelfTestCheck> { SelfTestCheck.Pass("dnssec", $"{resolver.AdTrust.Describe()}: DANE {(resolver.AdTrust.Trusted ? "is applied where the answers are secure" : "is never applied")}") };
        if (name is null || !DomainName.TryParse(name, out var domain) || domain is null)
        {
            checks.Insert(0, SelfTestCheck.Fail("resolver", name is null ? "no name to look up (neither helohost nor me can be read): give one with --selftest NAME"
                : $"{name} is not a name to look up: give one with --selftest NAME"));
            return checks;
        }

        var started = Stopwatch.GetTimestamp();
        var answer = new DnsLookup(resolver).QueryAsync(domain, RecordType.A, CancellationToken.None).GetAwaiter().GetResult();
        var took = Stopwatch.GetElapsedTime(started).TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture);
        var what = $"{name} A through {servers} (from {command.ResolvConf})";
        checks.Insert(0, answer.Status switch
        {
            DnsStatus.TemporaryFailure => SelfTestCheck.Fail("resolver", $"{what}: no answer ({answer.Detail}): every delivery by MX would defer"),
            DnsStatus.NoSuchName => SelfTestCheck.Pass("resolver", $"{what}: answered in {took} ms: no such name"),
            _ => SelfTestCheck.Pass("resolver", $"{what}: answered in {took} ms: {answer.Message?.AnswerRecords.OfType<ARecord>().Count() ?? 0} address(es){(answer.Authentic ? ", AD set" : "")}"),
        });
        return checks;
    }

    private static IEnumerable<SelfTestCheck> TlsChecks(QmailConfig? config)
    {
        var ciphers = config?.TlsClientCiphers ?? "DEFAULT";
        var suites = OpenSslCiphers.Expand(ciphers, out var error);
        yield return suites is null
            ? SelfTestCheck.Fail("openssl", error ?? "libssl does not load")
            : SelfTestCheck.Pass("openssl", $"libssl loads; \"{ciphers}\" selects {suites.Count} TLS 1.2 suite(s)");

        var roots = SystemTrust.LoadRoots();
        yield return roots.Count > 0
            ? SelfTestCheck.Pass("trust store", $"{SystemTrust.BundlePath}: {roots.Count} root(s) (MTA-STS policy hosts)")
            : SelfTestCheck.Fail("trust store", $"{SystemTrust.BundlePath}: no root read: every MTA-STS policy fetch would fail");

        if (config?.ClientCertificatePath is { } path)
        {
            SelfTestCheck check;
            try
            {
                // A certificate alone is named as such; anything else is left to the loader to refuse.
                var text = File.ReadAllText(path);
                using var certificate = text.Contains("CERTIFICATE-----", StringComparison.Ordinal) && !text.Contains("PRIVATE KEY-----", StringComparison.Ordinal)
                    ? null : X509Certificate2.CreateFromPemFile(path);
                check = certificate is null || !certificate.HasPrivateKey
                    ? SelfTestCheck.Fail("clientcert.pem", "no private key in it: qmail's TLS patch keeps the key and the certificate in this one file")
                    : SelfTestCheck.Pass("clientcert.pem", $"{certificate.Subject}, with its key, valid until {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm}Z{(certificate.NotAfter < DateTime.Now ? " (expired)" : "")}");
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                check = SelfTestCheck.Fail("clientcert.pem", $"does not load ({e.Message}): every TLS delivery to a server that asks for it would fail");
            }

            yield return check;
        }
    }

    /// <summary>As root: the checks made by a child running as qmailr, as qmail-rspawn would start it.</summary>
    private static int RunAsQmailUser(CommandLine command, string? name, TextWriter stdout)
    {
        var user = Environment.GetEnvironmentVariable(UserVariable) is { Length: > 0 } u ? u : QmailUser;
        var parent = Checks(user, command);
        foreach (var check in parent.Checks)
        {
            stdout.WriteLine(check);
        }

        if (parent.Start is not { } start)
        {
            return 1;
        }

        string[] arguments = [$"--reuid={start.Uid}", $"--regid={start.Gid}", $"--groups={start.Gid}", "--", start.Binary, "--selftest-child", "--selftest",
            $"--qmail-home={command.QmailHome}", .. command.ResolvConf == ResolverConfig.DefaultPath ? Array.Empty<string>() : [$"--resolv-conf={command.ResolvConf}"],
            .. name is null ? Array.Empty<string>() : ["--", name]];
        var info = new ProcessStartInfo(start.Setpriv) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = start.Directory };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        info.Environment.Clear();
        info.Environment["PATH"] = start.Path;
        using var child = Process.Start(info);
        if (child is null)
        {
            stdout.WriteLine(SelfTestCheck.Fail(user, $"{start.Setpriv} did not start"));
            return 1;
        }

        var output = child.StandardOutput.ReadToEndAsync();
        var errors = child.StandardError.ReadToEndAsync();
        if (!child.WaitForExit(ChildTime))
        {
            child.Kill(entireProcessTree: true);
            child.WaitForExit();
            stdout.Write(output.Result);
            stdout.WriteLine(SelfTestCheck.Fail(user, $"the checks took over {ChildTime.TotalSeconds} s"));
            return 1;
        }

        stdout.Write(output.Result);
        // Its checks begin with the process line; anything else (a crash, a report) is not a selftest that ran.
        if (child.ExitCode is not (0 or 1) || !output.Result.StartsWith("ok   process: ", StringComparison.Ordinal))
        {
            stdout.WriteLine(SelfTestCheck.Fail(user, $"cannot run {start.Binary} (exit {child.ExitCode}: {Shorten(errors.Result.Trim())})"));
            return 1;
        }

        return child.ExitCode;
    }

    private static readonly string[] SetprivPaths = ["/usr/bin/setpriv", "/bin/setpriv"];

    /// <summary>How to start the child, found by the parent's checks.</summary>
    private sealed record ChildStart(string Setpriv, string Binary, uint Uid, uint Gid, string Directory, string Path);

    private static (IReadOnlyList<SelfTestCheck> Checks, ChildStart? Start) Checks(string user, CommandLine command)
    {
        var checks = new List<SelfTestCheck>();
        var entry = PasswdEntry(user);
        if (entry is null)
        {
            checks.Add(SelfTestCheck.Fail(user, "no such user in /etc/passwd: qmail-rspawn runs qmail-remote as it"));
        }
        else if (entry.Value.Uid == 0)
        {
            checks.Add(SelfTestCheck.Fail(user, "has uid 0: qmail-remote must not run as root"));
            entry = null;
        }
        else
        {
            checks.Add(SelfTestCheck.Pass(user, $"uid {entry.Value.Uid}, gid {entry.Value.Gid} (/etc/passwd)"));
        }

        var queue = Path.Combine(command.QmailHome, "queue");
        var mess = Path.Combine(queue, "mess");
        var directory = Directory.Exists(mess) ? mess : Directory.Exists(queue) ? queue : null;
        checks.Add(directory is null
            ? SelfTestCheck.Fail("queue", $"{queue} does not exist: qmail-rspawn runs qmail-remote there")
            : SelfTestCheck.Pass("queue", $"the checks run in {directory}, as qmail-rspawn runs qmail-remote"));

        var setpriv = SetprivPaths.FirstOrDefault(File.Exists);
        if (setpriv is null)
        {
            checks.Add(SelfTestCheck.Fail("setpriv", $"not found (util-linux): cannot run the checks as {user}"));
        }

        var binary = OwnBinary();
        if (binary is null)
        {
            checks.Add(SelfTestCheck.Fail("binary", $"cannot tell this binary's path under the name {ProgramRoles.PersonName}: run it by its path"));
        }

        var path = $"{Path.Combine(command.QmailHome, "bin")}:/usr/local/bin:/usr/bin:/bin";
        var start = entry is { } e && directory is not null && setpriv is not null && binary is not null
            ? new ChildStart(setpriv, binary, e.Uid, e.Gid, directory, path)
            : null;
        if (start is not null)
        {
            checks.Add(SelfTestCheck.Pass("as " + user, $"{binary} runs the checks below with the environment PATH={path} only"));
        }

        return (checks, start);
    }

    /// <summary>The uid and gid of <paramref name="user"/> in /etc/passwd (qmail's own users are local), or null.</summary>
    internal static (uint Uid, uint Gid)? PasswdEntry(string user, string passwd = "/etc/passwd")
    {
        try
        {
            foreach (var line in File.ReadLines(passwd))
            {
                var fields = line.Split(':');
                if (fields.Length >= 4 && fields[0] == user
                    && uint.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
                    && uint.TryParse(fields[3], NumberStyles.None, CultureInfo.InvariantCulture, out var gid))
                {
                    return (uid, gid);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }

    /// <summary>This binary as a path named <c>qremote</c> (the child must be the person program too): argv[0] when it
    /// is one (a symlink named so counts), else the executable itself when it is named so.</summary>
    private static string? OwnBinary()
    {
        var argv0 = Environment.GetCommandLineArgs().FirstOrDefault() ?? "";
        if (Path.GetFileName(argv0) == ProgramRoles.PersonName)
        {
            var path = argv0.Contains('/', StringComparison.Ordinal) ? Path.GetFullPath(argv0)
                : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d.Length == 0 ? "." : d, argv0)).FirstOrDefault(File.Exists);
            if (path is not null && File.Exists(path))
            {
                return Path.GetFullPath(path);
            }
        }

        return Environment.ProcessPath is { } own && Path.GetFileName(own) == ProgramRoles.PersonName ? own : null;
    }

    /// <summary>The environment's variable names, less the two <see cref="SystemTrust.Hide"/> set in this process.</summary>
    private static string EnvironmentNames()
    {
        var names = Environment.GetEnvironmentVariables().Keys.Cast<string>()
            .Where(n => !SystemTrust.Hidden || n is not ("SSL_CERT_FILE" or "SSL_CERT_DIR"))
            .Order(StringComparer.Ordinal).ToList();
        return names.Count == 0 ? "empty" : Shorten(string.Join(' ', names));
    }

    private static string? TryReadLine(ControlFiles control, string file)
    {
        try
        {
            return control.ReadLine(file);
        }
        catch (ControlFileException)
        {
            return null;
        }
    }

    private static bool CanRead(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static string WorkingDirectory()
    {
        try
        {
            return Environment.CurrentDirectory;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "(unknown)";
        }
    }

    private static string Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e.Message;
    }

    private static string Shorten(string text) => text.Length > 80 ? text[..80] + "..." : text;
}
