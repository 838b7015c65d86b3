using System.Net;
using System.Net.Security;
using System.Text;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Tls.MtaSts;

/// <summary>
/// An HTTPS server of our own, only for answers openssl's <c>-WWW</c> cannot give (it always says
/// <c>200 ok</c> and picks the Content-type from the file name, so <c>mta-sts.txt</c> is always text/plain):
/// another status, a redirect, another Content-Type, a Content-Length, or no answer at all. It sends
/// <see cref="Response"/> as given after reading a request's head, then closes.
/// </summary>
internal sealed class ScriptedHttpsServer : HttpsTestServer
{
    private readonly List<string> _requests = [];

    public ScriptedHttpsServer(IPAddress address, string certificate, string response, bool silent = false)
        : base(address, MtaStsFixture.Certificate(certificate), MtaStsFixture.Key(certificate))
    {
        Response = Encoding.UTF8.GetBytes(response);
        Silent = silent;
    }

    public byte[] Response { get; set; }

    /// <summary>Complete the handshake and read the request, then say nothing until disposed.</summary>
    public bool Silent { get; }

    /// <summary>The request heads received, in order.</summary>
    public IReadOnlyList<string> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>A whole HTTP/1.1 response with the given status line, headers and body.</summary>
    public static string Http(string status, string headers, string body) =>
        $"HTTP/1.1 {status}\r\n{headers}{(headers.Length > 0 ? "\r\n" : "")}Connection: close\r\n\r\n{body}";

    protected override async Task ServeAsync(SslStream tls, CancellationToken stop)
    {
        var head = new StringBuilder();
        var buffer = new byte[4096];
        while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal) && head.Length < 65536)
        {
            var n = await tls.ReadAsync(buffer, stop);
            if (n == 0)
            {
                return;
            }

            head.Append(Encoding.Latin1.GetString(buffer, 0, n));
        }

        lock (_requests)
        {
            _requests.Add(head.ToString());
        }

        if (Silent)
        {
            await Task.Delay(Timeout.Infinite, stop);
        }

        await tls.WriteAsync(Response, stop);
        await tls.FlushAsync(stop);
        tls.Close();
    }
}
