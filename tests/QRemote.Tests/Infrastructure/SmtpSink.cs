using System.Net;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// Postfix's smtp-sink on a loopback port, with its fault options (-q, -Q, -r, -f, -W ...).
/// Each transaction it accepts is dumped to a file (-d), which tests read back.
/// </summary>
internal sealed class SmtpSink : IDisposable
{
    public const string Binary = "/usr/sbin/smtp-sink";
    private readonly ExternalProcess _process;

    private SmtpSink(ExternalProcess process, IPEndPoint endpoint, string dumpDirectory)
    {
        _process = process;
        EndPoint = endpoint;
        DumpDirectory = dumpDirectory;
    }

    public IPEndPoint EndPoint { get; }

    public string DumpDirectory { get; }

    public string Output => _process.Output;

    public static SmtpSink Start(params string[] options) => StartOn(IPAddress.Loopback, FreePort.Tcp(), options);

    public static SmtpSink StartOn(IPAddress address, int port, params string[] options) => StartOn(null, address, port, options);

    public static SmtpSink StartOn(NetworkNamespace? netns, IPAddress address, int port, params string[] options)
    {
        if (!File.Exists(Binary))
        {
            Assert.Fail($"{Binary} is missing: install Debian's postfix package (.ci/run does)");
        }

        var dump = Directory.CreateTempSubdirectory("qremote-sink-").FullName;
        File.SetUnixFileMode(dump, (UnixFileMode)0b111_111_111);
        var endpoint = new IPEndPoint(address, port);
        var host = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();
        var args = new List<string>();
        if (Environment.UserName == "root")
        {
            args.AddRange(["-u", "nobody"]);
        }

        args.AddRange(["-d", dump + "/%M."]);
        args.AddRange(options);
        args.Add($"{host}:{port}");
        args.Add("16");
        var process = netns is null ? ExternalProcess.Start(Binary, args) : netns.Start(Binary, args);
        var sink = new SmtpSink(process, endpoint, dump);
        if (netns is null)
        {
            WaitFor.TcpListening(endpoint, process);
        }
        else
        {
            netns.WaitForListener(address.ToString(), port, process);
        }

        return sink;
    }

    /// <summary>The dump files written so far: smtp-sink's own X- headers, its Received line, then the message
    /// with CRLF turned to LF and dots unstuffed.</summary>
    public IReadOnlyList<string> Dumps() =>
        Directory.GetFiles(DumpDirectory).Select(File.ReadAllText).ToList();

    public void Dispose()
    {
        _process.Dispose();
        try
        {
            Directory.Delete(DumpDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
