using System.Diagnostics;
using System.Globalization;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// <c>qremote-daemon</c> (the published binary under that name) as its own user would run it: as nobody (the user
/// <see cref="QmailRspawn"/> runs deliveries as, so only they can open its mode-0600 socket), with the
/// qmail home given, its socket in a directory of its own, and <c>control/qremote-daemon</c> naming it.
/// Dispose stops it with SIGTERM (SIGKILL if it lingers) and removes the directory.
/// </summary>
internal sealed class QRemoteDaemon : IDisposable
{
    private readonly Process _process;
    private readonly string _directory;
    private readonly Task<string> _stderr;

    private QRemoteDaemon(Process process, string directory, string socket)
    {
        _process = process;
        _directory = directory;
        Socket = socket;
        _stderr = process.StandardError.ReadToEndAsync();
    }

    public string Socket { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>What it wrote to stderr (complete once it has exited).</summary>
    public string Errors => _process.HasExited ? _stderr.Result : "";

    /// <param name="environment">More <c>NAME=VALUE</c> for its environment, after <c>PATH</c>.</param>
    public static QRemoteDaemon Start(string qmailHome, params string[] environment)
    {
        var dir = Directory.CreateTempSubdirectory("qremote-daemon-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_000_000);
        ExternalProcess.Run("/bin/chown", "65534:65534", dir);
        var socket = Path.Combine(dir, "qremote.sock");
        File.WriteAllText(Path.Combine(qmailHome, "control", "qremote-daemon"), socket + "\n");
        var info = new ProcessStartInfo("/usr/bin/setpriv") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        string[] arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/env", "-", "PATH=/usr/bin:/bin", .. environment,
            PublishedBinary.Daemon, $"--qmail-home={qmailHome}"];
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException("cannot start the daemon");
        var daemon = new QRemoteDaemon(process, dir, socket);
        try
        {
            WaitFor.Condition(() => File.Exists(socket) || process.HasExited, "the daemon's socket", 20_000);
            if (process.HasExited)
            {
                throw new InvalidOperationException("the daemon exited: " + daemon.Errors);
            }
        }
        catch
        {
            daemon.Dispose();
            throw;
        }

        return daemon;
    }

    /// <summary>SIGKILL: the daemon dies in the middle of whatever it does.</summary>
    public void Kill()
    {
        ExternalProcess.Run("/bin/kill", "-KILL", _process.Id.ToString(CultureInfo.InvariantCulture));
        _process.WaitForExit(10_000);
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            ExternalProcess.Run("/bin/kill", "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture));
            if (!_process.WaitForExit(10_000))
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5_000);
            }
        }

        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }
}
