using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// The part every HTTPS peer of our own shares: a listener on an ephemeral port, each connection served on its own
/// after a TLS handshake with the given certificate, stopped and waited for on dispose. What a connection gets after
/// the handshake is the subclass's (<see cref="ServeAsync"/>): the MTA-STS policy host's scripted answers, the TLS
/// report receiver's reading of whole requests.
/// </summary>
internal abstract class HttpsTestServer : IDisposable
{
    private readonly TcpListener _listener;
    private readonly X509Certificate2 _certificate;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    protected HttpsTestServer(IPAddress address, string certificateFile, string keyFile)
    {
        _certificate = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        _listener = new TcpListener(address, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _loop = Task.Run(AcceptAsync);
    }

    public int Port { get; }

    /// <summary>One connection after its handshake; returning closes it. I/O and cancellation exceptions end it quietly.</summary>
    protected abstract Task ServeAsync(SslStream tls, CancellationToken stop);

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

            _ = Task.Run(() => HandshakeAndServeAsync(client));
        }
    }

    private async Task HandshakeAndServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                await using var tls = new SslStream(client.GetStream());
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
                await ServeAsync(tls, _stop.Token);
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
