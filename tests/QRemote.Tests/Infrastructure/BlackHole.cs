using System.Net;
using System.Net.Sockets;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// An address where connects time out: a listener with a backlog of 1 that never accepts, its queue
/// filled by connections of our own, so the kernel drops further SYNs and the client waits.
/// </summary>
internal sealed class BlackHole : IDisposable
{
    private readonly Socket _listener;
    private readonly List<Socket> _fillers;

    private BlackHole(Socket listener, List<Socket> fillers)
    {
        _listener = listener;
        _fillers = fillers;
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    public IPAddress Address => EndPoint.Address;

    public static BlackHole Start(IPAddress address, int port = 0)
    {
        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(address, port));
        listener.Listen(1);
        var endpoint = (IPEndPoint)listener.LocalEndPoint!;
        var fillers = new List<Socket>();
        for (var i = 0; i < 16; i++)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            using var deadline = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            try
            {
                socket.ConnectAsync(endpoint, deadline.Token).AsTask().GetAwaiter().GetResult();
                fillers.Add(socket);
            }
            catch (OperationCanceledException)
            {
                socket.Dispose();
                TestContext.Out.WriteLine($"black hole at {endpoint} after {fillers.Count} queued connections");
                return new BlackHole(listener, fillers);
            }
        }

        foreach (var s in fillers)
        {
            s.Dispose();
        }

        listener.Dispose();
        throw new InvalidOperationException($"the listen queue of {endpoint} never filled");
    }

    public void Dispose()
    {
        foreach (var s in _fillers)
        {
            s.Dispose();
        }

        _listener.Dispose();
    }
}
