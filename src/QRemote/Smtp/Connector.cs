using System.Net;
using System.Net.Sockets;

namespace QRemote.Smtp;

/// <summary>Opens the TCP connection ourselves (MailKit's own connect would resolve the name through the
/// system resolver), from <c>control/outgoingip</c>'s address when it has one of the family.</summary>
internal static class Connector
{
    /// <summary>RFC 8305's recommended Connection Attempt Delay.</summary>
    public static readonly TimeSpan AttemptDelay = TimeSpan.FromMilliseconds(250);

    /// <summary>A connected socket, or null with why not.</summary>
    public static async Task<ConnectResult> ConnectAsync(IPEndPoint endpoint, TimeSpan timeout, CancellationToken cancellationToken, IReadOnlyList<IPAddress>? sources = null)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            if (sources?.FirstOrDefault(s => s.AddressFamily == endpoint.AddressFamily) is { } source)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }

            await socket.ConnectAsync(endpoint, deadline.Token).ConfigureAwait(false);
            return new ConnectResult(socket, "", false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            return new ConnectResult(null, $"timed out after {timeout.TotalSeconds:0}s", true);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            return new ConnectResult(null, e.SocketErrorCode.ToString(), e.SocketErrorCode == SocketError.TimedOut);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// RFC 8305's idea applied to one exchanger's addresses (IPv6 and IPv4 alternately, in the resolver's
    /// order): the first attempt starts at once; each next one when the previous has not connected within
    /// <paramref name="attemptDelay"/>, or at once when it failed; the first to connect wins and the others are
    /// abandoned (a loser that connected anyway is closed). A dead IPv6 path costs 250 ms, not timeoutconnect.
    /// </summary>
    public static async Task<RaceResult> RaceAsync(IReadOnlyList<IPEndPoint> endpoints, TimeSpan attemptDelay, TimeSpan timeout,
        IReadOnlyList<IPAddress>? sources, CancellationToken cancellationToken)
    {
        if (endpoints.Count == 1)
        {
            var only = await ConnectAsync(endpoints[0], timeout, cancellationToken, sources).ConfigureAwait(false);
            return only.Socket is not null ? new RaceResult(0, only.Socket, []) : new RaceResult(-1, null, [new RaceAttempt(0, only)]);
        }

        using var race = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var running = new Dictionary<Task<ConnectResult>, int>();
        var failed = new List<RaceAttempt>();
        var next = 0;
        void StartNext() => running.Add(ConnectAsync(endpoints[next], timeout, race.Token, sources), next++);

        StartNext();
        try
        {
            while (running.Count > 0)
            {
                using var delay = CancellationTokenSource.CreateLinkedTokenSource(race.Token);
                var waits = running.Keys.ToList<Task>();
                Task? timer = null;
                if (next < endpoints.Count)
                {
                    timer = Task.Delay(attemptDelay, delay.Token);
                    waits.Add(timer);
                }

                var done = await Task.WhenAny(waits).ConfigureAwait(false);
                await delay.CancelAsync().ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                if (done == timer)
                {
                    StartNext();
                    continue;
                }

                var attempt = (Task<ConnectResult>)done;
                var index = running[attempt];
                running.Remove(attempt);
                var result = await attempt.ConfigureAwait(false);
                if (result.Socket is not null)
                {
                    return new RaceResult(index, result.Socket, failed);
                }

                failed.Add(new RaceAttempt(index, result));
                if (next < endpoints.Count)
                {
                    StartNext();
                }
            }

            return new RaceResult(-1, null, failed);
        }
        finally
        {
            if (running.Count > 0)
            {
                await race.CancelAsync().ConfigureAwait(false);
                foreach (var loser in running.Keys)
                {
                    try
                    {
                        (await loser.ConfigureAwait(false)).Socket?.Dispose();
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            }
        }
    }
}
