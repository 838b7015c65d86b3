using System.Net;
using System.Net.Sockets;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// A transparent TCP relay in front of a real server that records, byte for byte, what the
/// client sent and what the server answered: "the exact bytes the server received", without
/// trusting a server's own dump format (smtp-sink's turns CRLF into LF and unstuffs dots).
/// </summary>
internal sealed class WireRecorder : IDisposable
{
    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly MemoryStream _fromClient = new();
    private readonly MemoryStream _fromServer = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessions = [];
    private readonly Task _accept;
    private int _connections;
    private readonly List<bool> _turns = [];

    public WireRecorder(IPEndPoint target)
    {
        _target = target;
        _listener = new TcpListener(target.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, 0);
        _listener.Start();
        _accept = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    public int Connections => Volatile.Read(ref _connections);

    public byte[] ClientBytes
    {
        get
        {
            lock (_fromClient)
            {
                return _fromClient.ToArray();
            }
        }
    }

    public byte[] ServerBytes
    {
        get
        {
            lock (_fromServer)
            {
                return _fromServer.ToArray();
            }
        }
    }

    /// <summary>
    /// The round trips the client waited for: each time the server spoke and the client spoke next (the
    /// greeting before EHLO, each reply before the next command). The server's last words (221 to a QUIT
    /// the client does not wait for) are not counted. Chunks are taken in the order they reached this relay.
    /// </summary>
    public int ClientWaits
    {
        get
        {
            lock (_turns)
            {
                return _turns.Zip(_turns.Skip(1)).Count(pair => !pair.First && pair.Second);
            }
        }
    }

    /// <summary>Waits until every relayed session has ended (the client closed after QUIT).</summary>
    public void WaitForSessions(int timeoutMs = 10000)
    {
        Task[] sessions;
        lock (_sessions)
        {
            sessions = [.. _sessions];
        }

        Task.WaitAll(sessions, timeoutMs);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            _accept.Wait(2000);
        }
        catch (AggregateException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            lock (_sessions)
            {
                _sessions.Add(RelayAsync(client));
            }
        }
    }

    private async Task RelayAsync(Socket client)
    {
        using var server = new Socket(_target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        using (client)
        {
            try
            {
                await server.ConnectAsync(_target, _stop.Token);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                return;
            }

            var up = PumpAsync(client, server, _fromClient);
            var down = PumpAsync(server, client, _fromServer);
            await Task.WhenAll(up, down);
        }
    }

    private async Task PumpAsync(Socket from, Socket to, MemoryStream record)
    {
        var buffer = new byte[65536];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (n == 0)
                {
                    break;
                }

                lock (record)
                {
                    record.Write(buffer, 0, n);
                }

                lock (_turns)
                {
                    var fromClient = record == _fromClient;
                    if (_turns.Count == 0 || _turns[^1] != fromClient)
                    {
                        _turns.Add(fromClient);
                    }
                }

                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }

        try
        {
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }
}
