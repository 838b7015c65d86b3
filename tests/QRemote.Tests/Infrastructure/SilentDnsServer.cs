using System.Net;
using System.Net.Sockets;

namespace QRemote.Tests.Infrastructure;

/// <summary>A "nameserver" that takes UDP queries and TCP connections and never answers: the
/// timeout case no real server produces on purpose.</summary>
internal sealed class SilentDnsServer : IDisposable
{
    private readonly UdpClient _udp;
    private readonly TcpListener _tcp;
    private readonly List<Socket> _held = [];
    private readonly CancellationTokenSource _stop = new();

    public SilentDnsServer()
    {
        Port = FreePort.TcpAndUdp();
        _udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, Port));
        _tcp = new TcpListener(IPAddress.Loopback, Port);
        _tcp.Start();
        _ = HoldAsync();
    }

    public int Port { get; }

    public void Dispose()
    {
        _stop.Cancel();
        _udp.Dispose();
        _tcp.Stop();
        lock (_held)
        {
            _held.ForEach(s => s.Dispose());
        }

        _stop.Dispose();
    }

    private async Task HoldAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var s = await _tcp.AcceptSocketAsync(_stop.Token);
                lock (_held)
                {
                    _held.Add(s);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }
}
