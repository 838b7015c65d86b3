using System.Reflection;
using QRemote.Posix;

namespace QRemote.Daemon;

/// <summary>
/// <c>qremote-daemon</c>, the program name of the resident service (a symlink to the same binary): its own entry, so
/// no delivery's argv can ever reach it (a bounce to <c>x@--daemon</c> once could). It runs under a supervisor, so
/// it may exit non-zero and write to stderr.
/// </summary>
internal static class DaemonMain
{
    public const string Usage = """
        usage: qremote-daemon [--qmail-home DIR] [--resolv-conf FILE] [--socket PATH]

        The resident QRemote service (docs/daemon.md): qmail-remote processes hand their deliveries to it over
        its Unix socket and it keeps SMTP connections and DNS answers between them. Run it as qmailr, under
        systemd or daemontools; it stops on SIGTERM. It delivers only for processes with the same settings.

          --qmail-home DIR     qmail's home (default /var/qmail; env QREMOTE_QMAIL_HOME)
          --resolv-conf FILE   nameservers (default /etc/resolv.conf; env QREMOTE_RESOLV_CONF)
          --socket PATH        its socket (default: control/qremote-daemon's line, else /run/qremote/qremote.sock)
          --smtp-port N        port for MX and [ip] deliveries (tests only; env QREMOTE_SMTP_PORT)
          --https-port N       port of MTA-STS policy hosts (tests only; env QREMOTE_HTTPS_PORT)
        """;

    public static int Run(string[] args)
    {
        var command = CommandLine.ForDaemon(args, Environment.GetEnvironmentVariable);
        if (command.Error is not null)
        {
            Console.Error.WriteLine($"qremote-daemon: {command.Error}\n\n{Usage}");
            return 2;
        }

        if (command.Help || command.Version)
        {
            Console.Out.WriteLine(command.Help ? Usage
                : $"qremote-daemon {typeof(DaemonMain).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?"}");
            return 0;
        }

        QRemote.Tls.SystemTrust.Hide();
        QRemote.Dns.ArSoftRandom.Install();
        using var stop = new StopSignals();
        return DaemonServer.RunAsync(command, stop.Token).GetAwaiter().GetResult();
    }
}
