using System.Diagnostics;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// A network namespace of the tests' own (<c>ip netns add</c>, root only): a private loopback where
/// servers take the real ports (25, 53) and <c>/etc/netns/NAME/resolv.conf</c> replaces the host's
/// resolv.conf for processes run inside it, so the published binary runs exactly as under qmail,
/// with no test-only option. fd51::/64 is routed to lo as local, with non-local bind allowed, so a
/// server can listen on an IPv6 address that is not one of the namespace's own.
/// </summary>
internal sealed class NetworkNamespace : IDisposable
{
    public const string Ip = "/usr/sbin/ip";
    public const string UlaPrefix = "fd51::/64";

    private NetworkNamespace(string name) => Name = name;

    public string Name { get; }

    public string EtcDirectory => $"/etc/netns/{Name}";

    /// <summary>Null with the reason when namespaces cannot be made here (not root, no iproute2).</summary>
    public static (NetworkNamespace? Namespace, string Why) TryCreate()
    {
        if (Environment.UserName != "root")
        {
            return (null, "network namespaces need root");
        }

        if (!File.Exists(Ip))
        {
            return (null, $"{Ip} is missing (Debian's iproute2)");
        }

        var ns = new NetworkNamespace($"qremote-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}");
        try
        {
            ExternalProcess.Run(Ip, "netns", "add", ns.Name);
            ns.Exec("ip", "link", "set", "lo", "up");
            ns.Exec("ip", "-6", "route", "add", "local", UlaPrefix, "dev", "lo");
            ns.Exec("sysctl", "-q", "-w", "net.ipv6.ip_nonlocal_bind=1");
            Directory.CreateDirectory(ns.EtcDirectory);
            File.WriteAllText(Path.Combine(ns.EtcDirectory, "resolv.conf"), "nameserver 127.0.0.1\noptions timeout:2 attempts:1\n");
            return (ns, "");
        }
        catch (InvalidOperationException e)
        {
            ns.Dispose();
            return (null, e.Message);
        }
    }

    /// <summary>The argv prefix that runs a command inside the namespace.</summary>
    public string[] Prefix => ["netns", "exec", Name];

    public string Exec(params string[] command) => ExternalProcess.Run(Ip, [.. Prefix, .. command]);

    public ExternalProcess Start(string file, IEnumerable<string> args, string? workingDirectory = null) =>
        ExternalProcess.Start(Ip, [.. Prefix, file, .. args], workingDirectory);

    /// <summary>Waits until a TCP listener on <paramref name="port"/> shows up inside the namespace.</summary>
    public void WaitForListener(string address, int port, ExternalProcess process)
    {
        var deadline = Stopwatch.StartNew();
        var needle = address.Contains(':', StringComparison.Ordinal) ? $"[{address}]:{port}" : $"{address}:{port}";
        while (deadline.Elapsed < TimeSpan.FromSeconds(15))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"server exited before listening on {needle}:\n{process.Output}");
            }

            if (Exec("ss", "-Hltn").Contains(needle, StringComparison.Ordinal))
            {
                return;
            }

            Thread.Sleep(30);
        }

        throw new TimeoutException($"nothing listening on {needle} in {Name}:\n{process.Output}");
    }

    public void Dispose()
    {
        try
        {
            // Any process still inside (a server a test forgot) goes with the namespace.
            var pids = ExternalProcess.Run(Ip, "netns", "pids", Name).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            foreach (var pid in pids)
            {
                try
                {
                    Process.GetProcessById(int.Parse(pid, System.Globalization.CultureInfo.InvariantCulture)).Kill(entireProcessTree: true);
                }
                catch (ArgumentException)
                {
                }
            }

            ExternalProcess.Run(Ip, "netns", "del", Name);
        }
        catch (InvalidOperationException)
        {
        }

        try
        {
            Directory.Delete(EtcDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
