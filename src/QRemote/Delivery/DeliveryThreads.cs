namespace QRemote.Delivery;

/// <summary>
/// The threads a process that makes one delivery runs on: its main thread, and one thread for all its sockets, on which
/// each socket operation's continuation runs as the operation completes. By default .NET hands every completion to the
/// thread pool, which in a process this short starts two or three workers and a gate thread, each created, spinning
/// in <c>sched_yield</c> while it waits (445 calls in one MX delivery), and handed work across cores: 13% of an MX
/// delivery's CPU, 23 page faults (docs/performance.md, "One thread for the sockets"). The process asks for no
/// thread-pool work of its own either: no <c>Task.Run</c> on the delivery's path, and the message file read by
/// plain reads (<see cref="QRemote.Message.MessageSource"/>).
/// <para>What that asks of the code: nothing on a delivery's path may wait synchronously for another socket operation,
/// since its completion would have to run on the thread that waits. The one blocking call of that kind,
/// <c>SmtpSession.Close</c>, is the daemon's connection cache's, and qremote-daemon keeps the thread pool (its
/// deliveries run side by side). A timer that fires (a timeout, the connection race's delay) still runs on the pool,
/// which then starts as it would have before.</para>
/// </summary>
internal static class DeliveryThreads
{
    /// <summary>Must run before the first socket is made: .NET reads both settings once, when it starts its socket
    /// engine. They are read from the environment only (there is no AppContext switch for them); a program qremote
    /// starts (qmail-inject for a TLS report) inherits them and ignores them.</summary>
    public static void UseOneSocketThread()
    {
        Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
        Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT", "1");
    }
}
