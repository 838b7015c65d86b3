using System.Net;
using System.Net.Security;
using System.Text;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Tls.TlsReport;

/// <summary>
/// A TLS report receiver (RFC 8460 5.4): an HTTPS server that reads each request whole, its head and its body (by
/// Content-Length), keeps both, and answers with <see cref="Status"/>.
/// </summary>
internal sealed class ReportHttpsServer(IPAddress address, string certificateFile, string keyFile) : HttpsTestServer(address, certificateFile, keyFile)
{
    private readonly List<(string Head, byte[] Body)> _requests = [];

    public string Status { get; set; } = "200 OK";

    public IReadOnlyList<(string Head, byte[] Body)> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    protected override async Task ServeAsync(SslStream tls, CancellationToken stop)
    {
        var received = new MemoryStream();
        var buffer = new byte[8192];
        int headEnd;
        while ((headEnd = received.ToArray().AsSpan().IndexOf("\r\n\r\n"u8)) < 0)
        {
            var n = await tls.ReadAsync(buffer, stop);
            if (n == 0)
            {
                return;
            }

            received.Write(buffer, 0, n);
        }

        var head = Encoding.Latin1.GetString(received.ToArray(), 0, headEnd);
        var length = head.Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            .Select(l => int.Parse(l["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        while (received.Length < headEnd + 4 + length)
        {
            var n = await tls.ReadAsync(buffer, stop);
            if (n == 0)
            {
                break;
            }

            received.Write(buffer, 0, n);
        }

        lock (_requests)
        {
            _requests.Add((head, received.ToArray()[(headEnd + 4)..]));
        }

        await tls.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {Status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), stop);
        await tls.FlushAsync(stop);
    }
}
