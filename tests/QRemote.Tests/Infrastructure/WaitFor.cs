using System.Net;
using System.Net.Sockets;

namespace QRemote.Tests.Infrastructure;

internal static class WaitFor
{
    /// <summary>Waits until something accepts TCP connections at the endpoint.</summary>
    public static void TcpListening(IPEndPoint endpoint, ExternalProcess? process = null, int timeoutMs = 15000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (Environment.TickCount64 < deadline)
        {
            if (process is { HasExited: true })
            {
                throw new InvalidOperationException($"server exited before listening on {endpoint}:\n{process.Output}");
            }

            try
            {
                using var client = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                client.Connect(endpoint);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(25);
            }
        }

        throw new TimeoutException($"nothing listening on {endpoint}:\n{process?.Output}");
    }

    public static void Condition(Func<bool> condition, string what, int timeoutMs = 10000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (!condition())
        {
            if (Environment.TickCount64 > deadline)
            {
                throw new TimeoutException($"timed out waiting for {what}");
            }

            Thread.Sleep(20);
        }
    }
}
