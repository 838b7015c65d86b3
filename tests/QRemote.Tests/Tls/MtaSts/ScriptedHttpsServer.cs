using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace QRemote.Tests.Tls.MtaSts;

/// <summary>
/// An HTTPS server of our own, only for answers openssl's <c>-WWW</c> cannot give (it always says
/// <c>200 ok</c> and picks the Content-type from the file name, so <c>mta-sts.txt</c> is always text/plain):
/// another status, a redirect, another Content-Type, a Content-Length, or no answer at all. It sends
/// <see cref="Response"/> as given after reading a request's head, then closes.
/// </summary>
internal sealed class ScriptedHttpsServer : IDisposable
{
    private readonly TcpListener _listener;
    private readonly X509Certificate2 _certificate;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _requests = [];
    private readonly Task _loop;

    public ScriptedHttpsServer(IPAddress address, string certificate, string response, bool silent = false)
    {
        _certificate = X509Certificate2.CreateFromPemFile(MtaStsFixture.Certificate(certificate), MtaStsFixture.Key(certificate));
        Response = Encoding.UTF8.GetBytes(response);
        Silent = silent;
        _listener = new TcpListener(address, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _loop = Task.Run(AcceptAsync);
    }

    public int Port { get; }

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

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                await using var tls = new SslStream(client.GetStream());
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
                var head = new StringBuilder();
                var buffer = new byte[4096];
                while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal) && head.Length < 65536)
                {
                    var n = await tls.ReadAsync(buffer, _stop.Token);
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
                    await Task.Delay(Timeout.Infinite, _stop.Token);
                }

                await tls.WriteAsync(Response, _stop.Token);
                await tls.FlushAsync(_stop.Token);
                tls.Close();
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
            {
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            _loop.Wait(5000);
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
        _certificate.Dispose();
    }
}
