using System.Net;
using System.Text.RegularExpressions;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Tls.MtaSts;

/// <summary>
/// A real HTTPS server for policy files: <c>openssl s_server -WWW</c>, which serves files relative to its working
/// directory (here a temporary one holding <c>.well-known/mta-sts.txt</c>) as <c>HTTP/1.0 200</c> with
/// <c>Content-type: text/plain</c>, reading the file again for every request, and logs <c>FILE:path</c> for each.
/// </summary>
internal sealed partial class OpensslPolicyServer : IDisposable
{
    private readonly ExternalProcess _process;
    private readonly string _directory;

    private OpensslPolicyServer(ExternalProcess process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Requests for the policy file so far.</summary>
    public int Requests => FileLine().Count(_process.Output);

    /// <summary>Waits until at least <paramref name="count"/> requests are logged (the log comes through a pipe), then
    /// gives the number logged.</summary>
    public int WaitForRequests(int count)
    {
        WaitFor.Condition(() => Requests >= count, $"{count} requests in openssl's log");
        return Requests;
    }

    /// <summary>Serves <paramref name="policy"/> (bytes as given) at <paramref name="address"/> with certificate NAME.pem/.key.</summary>
    public static OpensslPolicyServer Start(IPAddress address, string certificate, byte[] policy) =>
        Start(address, MtaStsFixture.Certificate(certificate), MtaStsFixture.Key(certificate), policy);

    /// <summary>Serves <paramref name="policy"/> at <paramref name="address"/> with the given certificate and key files.</summary>
    public static OpensslPolicyServer Start(IPAddress address, string certificateFile, string keyFile, byte[] policy)
    {
        var dir = Directory.CreateTempSubdirectory("qremote-mtasts-www-").FullName;
        Directory.CreateDirectory(Path.Combine(dir, ".well-known"));
        var port = FreePort.Tcp(address);
        var process = ExternalProcess.Start("/usr/bin/openssl",
            ["s_server", "-WWW", "-accept", $"{address}:{port}", "-cert", certificateFile, "-key", keyFile],
            dir);
        var server = new OpensslPolicyServer(process, dir, port);
        server.Serve(policy);
        // s_server takes the probe's connection without a handshake as a failed one, and goes on.
        WaitFor.TcpListening(new IPEndPoint(address, port), process);
        return server;
    }

    public static OpensslPolicyServer Start(IPAddress address, string certificate, string policy) =>
        Start(address, certificate, System.Text.Encoding.UTF8.GetBytes(policy));

    /// <summary>Replaces the policy file; the next request gets the new one.</summary>
    public void Serve(byte[] policy) => File.WriteAllBytes(Path.Combine(_directory, ".well-known", "mta-sts.txt"), policy);

    public void Serve(string policy) => Serve(System.Text.Encoding.UTF8.GetBytes(policy));

    public void Dispose()
    {
        _process.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [GeneratedRegex(@"^FILE:\.well-known/mta-sts\.txt$", RegexOptions.Multiline)]
    private static partial Regex FileLine();
}
