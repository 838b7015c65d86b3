using System.Net;
using System.Net.Sockets;

namespace QRemote.Tests.Infrastructure;

/// <summary>A "nameserver" that answers every query, over UDP and TCP, with the query's ID, a response
/// header and then bytes that are no DNS message: the malformed answer no real server sends.</summary>
internal sealed class GarbageDnsServer : IDisposable
{
    private readonly UdpClient _udp;
    private readonly TcpListener _tcp;
    private readonly CancellationTokenSource _stop = new();

    public GarbageDnsServer()
    {
        Port = FreePort.TcpAndUdp();
        _udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, Port));
        _tcp = new TcpListener(IPAddress.Loopback, Port);
        _tcp.Start();
        _ = UdpAsync();
        _ = TcpAsync();
    }

    public int Port { get; }

    public int Answered;

    private static byte[] Garbage(ReadOnlySpan<byte> query)
    {
        // ID, QR|RD|RA, one question, five answers claimed; then a question that runs off the end.
        byte[] answer = [query[0], query[1], 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0, 0x3f, (byte)'x', (byte)'y', 0xc0, 0xff, 0xff];
        return answer;
    }

    private async Task UdpAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var r = await _udp.ReceiveAsync(_stop.Token);
                Interlocked.Increment(ref Answered);
                await _udp.SendAsync(Garbage(r.Buffer), r.RemoteEndPoint, _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task TcpAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _tcp.AcceptTcpClientAsync(_stop.Token);
                _ = Task.Run(async () =>
                {
                    using (client)
                    {
                        var stream = client.GetStream();
                        var query = new byte[512];
                        var n = await stream.ReadAsync(query, _stop.Token);
                        if (n < 4)
                        {
                            return;
                        }

                        Interlocked.Increment(ref Answered);
                        var answer = Garbage(query.AsSpan(2));
                        await stream.WriteAsync(new byte[] { 0, (byte)answer.Length }, _stop.Token);
                        await stream.WriteAsync(answer, _stop.Token);
                        await Task.Delay(200, _stop.Token);
                    }
                });
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _udp.Dispose();
        _tcp.Stop();
        _stop.Dispose();
    }
}
