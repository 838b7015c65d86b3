using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// A private instance of Debian's Postfix: its own config, queue and data directories under a fresh
/// temp directory, one <c>smtpd</c> listening on one loopback address and port and nowhere else,
/// and every message it accepts handed to the <c>discard</c> transport, so nothing leaves. Tests pass
/// extra main.cf parameters (<c>message_size_limit</c>, <c>smtpd_recipient_restrictions</c>,
/// <c>smtputf8_enable</c>, <c>smtpd_discard_ehlo_keywords</c> ...). Postfix logs to <see cref="LogFile"/>
/// through its postlogd service (there is no syslog here).
/// <para>The queue and data directories are made as Postfix's <c>postfix-files</c> lists them (owner
/// postfix, group postdrop for maildrop and public); <c>master -s</c> then runs in the foreground, as
/// its own process group, under <see cref="ExternalProcess"/>. Dispose sends master SIGTERM (as
/// <c>postfix stop</c> does; master passes it on to its process group), SIGKILLs any of the instance's
/// processes still alive (found in /proc: master by its command line, the daemons by MAIL_CONFIG in
/// their environment), and deletes the directory. Needs root. Starts in about 30 ms.</para>
/// </summary>
internal sealed class PostfixServer : IDisposable
{
    public const string Postconf = "/usr/sbin/postconf";
    public const string DaemonDirectory = "/usr/lib/postfix/sbin";
    public const string MetaDirectory = "/etc/postfix";
    public const string Hostname = "postfix.qremote.test";

    /// <summary>The address the tests use: on 127.0.0.0/8 but not 127.0.0.1 (the host's own) nor 127.0.0.2 (smtp-sink's).</summary>
    public static readonly IPAddress DefaultAddress = IPAddress.Parse("127.0.0.3");

    private ExternalProcess? _process;
    private int _masterPid;
    private bool _disposed;

    private PostfixServer(string directory, IPEndPoint endpoint)
    {
        Directory = directory;
        EndPoint = endpoint;
    }

    public string Directory { get; }

    public string ConfigDirectory => Path.Combine(Directory, "etc");

    public string QueueDirectory => Path.Combine(Directory, "spool");

    public string DataDirectory => Path.Combine(Directory, "data");

    public string LogFile => Path.Combine(Directory, "maillog");

    public IPEndPoint EndPoint { get; }

    /// <summary>From writing the configuration to the first accepted TCP connection.</summary>
    public TimeSpan StartupTime { get; private set; }

    /// <summary>Postfix's log so far (postlogd writes it; a line may lag the event by a few milliseconds).</summary>
    public string Log
    {
        get
        {
            try
            {
                return File.Exists(LogFile) ? File.ReadAllText(LogFile) : "";
            }
            catch (IOException)
            {
                return "";
            }
        }
    }

    /// <summary>Starts on <see cref="DefaultAddress"/> and a free port, with the given main.cf parameters.</summary>
    public static PostfixServer Start(params (string Name, string Value)[] parameters) =>
        StartOn(DefaultAddress, FreePort.Tcp(DefaultAddress), parameters);

    public static PostfixServer StartOn(IPAddress address, int port, params (string Name, string Value)[] parameters)
    {
        foreach (var tool in new[] { Postconf, Path.Combine(DaemonDirectory, "master"), Path.Combine(DaemonDirectory, "smtpd") })
        {
            if (!File.Exists(tool))
            {
                Assert.Fail($"{tool} is missing: install Debian's postfix package (.ci/run does)");
            }
        }

        if (Environment.UserName != "root")
        {
            Assert.Fail("a private Postfix instance needs root: master binds its port and starts its daemons as mail_owner (postfix)");
        }

        var clock = Stopwatch.StartNew();
        var dir = System.IO.Directory.CreateTempSubdirectory("qremote-postfix-").FullName;
        // The daemons run as postfix after chdir to the queue directory; postlogd and master (root) open
        // files by absolute path. The tree must be traversable, and not writable, for others.
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        var server = new PostfixServer(dir, new IPEndPoint(address, port));
        try
        {
            server.WriteConfiguration(parameters);

            // Postfix ignores a parameter it does not know (a misspelt one would make a test pass for
            // nothing); postconf names it.
            var warnings = RunCapturing(Postconf, ["-c", server.ConfigDirectory, "-n"]).Stderr;
            if (warnings.Length > 0)
            {
                throw new InvalidOperationException($"postconf warns about the configuration:\n{warnings}");
            }

            server.CreateQueue();

            // -s: stay in the foreground (no -w), as a session and process group leader of its own, so
            // that SIGTERM reaches every daemon it started and nothing of the test host's group.
            server._process = ExternalProcess.Start(Path.Combine(DaemonDirectory, "master"), ["-c", server.ConfigDirectory, "-s"], dir);
            WaitFor.TcpListening(server.EndPoint, server._process);
            server._masterPid = server.FindMaster();
            if (server._masterPid == 0)
            {
                throw new InvalidOperationException("master is listening but not in /proc");
            }

            server.StartupTime = clock.Elapsed;
            return server;
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException or UnauthorizedAccessException)
        {
            var diagnosis = server.Diagnose();
            server.Dispose();
            throw new InvalidOperationException($"Postfix did not start on {server.EndPoint}: {e.Message}\n{diagnosis}", e);
        }
    }

    /// <summary>Waits until the log holds the text (a delivery by the discard transport, say).</summary>
    public void WaitForLog(string text, int timeoutMs = 10000)
    {
        try
        {
            WaitFor.Condition(() => Log.Contains(text, StringComparison.Ordinal), $"'{text}' in the Postfix log", timeoutMs);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}:\n{Log}", e);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        var master = _masterPid > 0 ? _masterPid : FindMaster();
        if (_process is { HasExited: false } && master > 0)
        {
            // As "postfix stop": SIGTERM to master, which passes it on to its process group and exits.
            Signal("-TERM", master);
            Wait(() => _process.HasExited, 5000);
        }

        _process?.Dispose();

        // The daemons normally die with master's SIGTERM; kill any that linger (a wedged one, or one
        // forked while master was going away).
        if (!Wait(() => OwnProcesses().Count == 0, 5000))
        {
            foreach (var pid in OwnProcesses())
            {
                Signal("-KILL", pid);
            }

            Wait(() => OwnProcesses().Count == 0, 5000);
        }

        for (var attempt = 0; attempt < 5; attempt++)
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
                break;
            }
            catch (DirectoryNotFoundException)
            {
                break;
            }
            catch (IOException)
            {
                Thread.Sleep(100);
            }
        }
    }

    /// <summary>Live (non-zombie) processes of this instance: master, by its command line, and the daemons it
    /// started, which carry MAIL_CONFIG=our config directory in their environment (a fresh temp path).</summary>
    public IReadOnlyList<int> OwnProcesses() => Scan(all: true);

    /// <summary>The pid of this instance's master, or 0. (Its pid file, pid/master.pid, cannot be read from
    /// .NET while master runs: master holds an exclusive flock on it, and .NET takes a shared one on every
    /// file it opens.)</summary>
    private int FindMaster() => Scan(all: false).FirstOrDefault();

    private List<int> Scan(bool all)
    {
        var masterCmdline = $"{DaemonDirectory}/master\0-c\0{ConfigDirectory}\0-s\0";
        var environment = $"MAIL_CONFIG={ConfigDirectory}";
        var found = new List<int>();
        foreach (var entry in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                // "pid (comm) state ...": comm may hold spaces and parentheses, so look after the last ')'.
                var stat = File.ReadAllText(Path.Combine(entry, "stat"));
                if (stat[(stat.LastIndexOf(')') + 1)..].TrimStart() is ['Z' or 'X', ..])
                {
                    continue;
                }

                if (File.ReadAllText(Path.Combine(entry, "cmdline")) == masterCmdline
                    || (all && File.ReadAllText(Path.Combine(entry, "environ")).Split('\0').Contains(environment)))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile.
            }
        }

        return found;
    }

    private void WriteConfiguration((string Name, string Value)[] parameters)
    {
        var etc = System.IO.Directory.CreateDirectory(ConfigDirectory).FullName;
        File.SetUnixFileMode(etc, (UnixFileMode)0b111_101_101);
        var v6 = EndPoint.AddressFamily == AddressFamily.InterNetworkV6;
        var main = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["compatibility_level"] = "3.6",
            ["queue_directory"] = QueueDirectory,
            ["data_directory"] = DataDirectory,
            ["meta_directory"] = MetaDirectory,
            ["mail_owner"] = "postfix",
            ["setgid_group"] = "postdrop",
            ["myhostname"] = Hostname,
            ["mydomain"] = "qremote.test",
            ["myorigin"] = "$myhostname",
            ["syslog_name"] = "postfix-qremote",
            ["maillog_file"] = LogFile,
            ["maillog_file_prefixes"] = Directory,
            // Only the smtpd service in master.cf listens; inet_interfaces is what the (unused) SMTP client would bind.
            ["inet_interfaces"] = "loopback-only",
            ["inet_protocols"] = v6 ? "ipv6" : "ipv4",
            // Nothing is local, nothing is relayed anywhere: every accepted message is discarded.
            ["mydestination"] = "",
            ["relay_domains"] = "",
            ["local_recipient_maps"] = "",
            ["alias_maps"] = "",
            ["alias_database"] = "",
            ["default_transport"] = "discard",
            ["local_transport"] = "discard",
            ["relay_transport"] = "discard",
            ["virtual_transport"] = "discard",
            ["mynetworks"] = v6 ? "[::1]/128" : "127.0.0.0/8",
            ["smtpd_relay_restrictions"] = "permit_mynetworks, reject",
            // No DNS: no reverse lookup of the client, none by the (unused) SMTP client.
            ["smtpd_peername_lookup"] = "no",
            ["disable_dns_lookups"] = "yes",
            ["smtp_host_lookup"] = "native",
            ["smtpd_tls_security_level"] = "none",
            ["biff"] = "no",
            ["append_dot_mydomain"] = "no",
        };
        foreach (var (name, value) in parameters)
        {
            if (name.Length == 0 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c == '_')) || value.Contains('\n', StringComparison.Ordinal))
            {
                throw new ArgumentException($"not a main.cf parameter: {name} = {value}", nameof(parameters));
            }

            main[name] = value;
        }

        var mainCf = new StringBuilder();
        foreach (var (name, value) in main)
        {
            mainCf.Append(CultureInfo.InvariantCulture, $"{name} = {value}\n");
        }

        var host = v6 ? $"[{EndPoint.Address}]" : EndPoint.Address.ToString();
        // Debian's master.cf with every chroot off, and only what smtpd, cleanup and qmgr need.
        var masterCf = $"""
            # service type  private unpriv  chroot  wakeup  maxproc command
            {host}:{EndPoint.Port} inet n - n - - smtpd
            cleanup   unix  n       -       n       -       0       cleanup
            qmgr      unix  n       -       n       300     1       qmgr
            rewrite   unix  -       -       n       -       -       trivial-rewrite
            bounce    unix  -       -       n       -       0       bounce
            defer     unix  -       -       n       -       0       bounce
            trace     unix  -       -       n       -       0       bounce
            verify    unix  -       -       n       -       1       verify
            flush     unix  n       -       n       1000?   0       flush
            proxymap  unix  -       -       n       -       -       proxymap
            error     unix  -       -       n       -       -       error
            retry     unix  -       -       n       -       -       error
            discard   unix  -       -       n       -       -       discard
            anvil     unix  -       -       n       -       1       anvil
            scache    unix  -       -       n       -       1       scache
            postlog   unix-dgram n  -       n       -       1       postlogd
            tlsmgr    unix  -       -       n       1000?   1       tlsmgr

            """;
        File.WriteAllText(Path.Combine(etc, "main.cf"), mainCf.ToString());
        File.WriteAllText(Path.Combine(etc, "master.cf"), masterCf);
        foreach (var f in System.IO.Directory.GetFiles(etc))
        {
            File.SetUnixFileMode(f, (UnixFileMode)0b110_100_100);
            // Postfix will not read a main.cf changed within the last second or so (it may be half-written):
            // it waits, 300 ms at a time, until the file is older. Ours is complete, so make it older.
            File.SetLastWriteTimeUtc(f, DateTime.UtcNow.AddMinutes(-1));
        }
    }

    /// <summary>The directories of $meta_directory/postfix-files under $queue_directory and $data_directory,
    /// with its owners and modes (what <c>post-install create-missing</c> makes, which takes seconds
    /// where this takes milliseconds).</summary>
    private void CreateQueue()
    {
        const string owner = "postfix", group = "postdrop";
        List<(string Path, string Owner, int Mode)> layout =
        [
            (DataDirectory, owner, 0b111_000_000),
            (QueueDirectory, "root", 0b111_101_101),
            (Path.Combine(QueueDirectory, "pid"), "root", 0b111_101_101),
            (Path.Combine(QueueDirectory, "maildrop"), $"{owner}:{group}", 0b111_011_000),
            (Path.Combine(QueueDirectory, "public"), $"{owner}:{group}", 0b111_001_000),
            .. new[] { "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "private", "saved", "trace" }
                .Select(d => (Path.Combine(QueueDirectory, d), owner, 0b111_000_000)),
        ];
        foreach (var (path, _, mode) in layout)
        {
            System.IO.Directory.CreateDirectory(path);
            File.SetUnixFileMode(path, (UnixFileMode)mode);
        }

        foreach (var byOwner in layout.Where(d => d.Owner != "root").GroupBy(d => d.Owner))
        {
            ExternalProcess.Run("/bin/chown", [byOwner.Key, .. byOwner.Select(d => d.Path)]);
        }
    }

    /// <summary>What to show when master did not come up. Master reports configuration errors (a bad
    /// value, say) only to syslog, which is absent here; postconf's view names bad master.cf lines.</summary>
    private string Diagnose()
    {
        var text = new StringBuilder();
        text.Append("---- maillog\n").Append(Log);
        foreach (var args in new[] { new[] { "-c", ConfigDirectory, "-n" }, ["-c", ConfigDirectory, "-M"] })
        {
            text.Append(CultureInfo.InvariantCulture, $"---- postconf {string.Join(' ', args)}\n").Append(RunCapturing(Postconf, args).Both);
        }

        return text.ToString();
    }

    private static (string Stdout, string Stderr, string Both) RunCapturing(string file, string[] args)
    {
        try
        {
            var run = ExternalProcess.RunToEnd(file, args, new() { Timeout = TimeSpan.FromSeconds(30) });
            return (run.Text, run.Errors, run.Text + run.Errors);
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or TimeoutException)
        {
            return ("", e.Message + "\n", e.Message + "\n");
        }
    }

    private static void Signal(string signal, int pid)
    {
        try
        {
            ExternalProcess.Run("/bin/kill", signal, pid.ToString(CultureInfo.InvariantCulture));
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static bool Wait(Func<bool> condition, int timeoutMs)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (!condition())
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }

            Thread.Sleep(10);
        }

        return true;
    }
}
