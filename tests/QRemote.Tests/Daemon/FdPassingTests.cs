using System.Net.Sockets;
using System.Text;
using QRemote.Daemon;

namespace QRemote.Tests.Daemon;

/// <summary>
/// SCM_RIGHTS as the daemon receives it, from a peer on a real Unix socket. The daemon's socket is qmailr's, but a
/// peer that attaches more than one descriptor must not leak them into the daemon, one per request, until it runs out.
/// </summary>
public sealed class FdPassingTests
{
    private static (Socket Client, Socket Server, string Directory) Pair()
    {
        var dir = Directory.CreateTempSubdirectory("qremote-fdpass-").FullName;
        var endpoint = new UnixDomainSocketEndPoint(Path.Combine(dir, "s"));
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(endpoint);
        listener.Listen(1);
        var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        client.Connect(endpoint);
        return (client, listener.Accept(), dir);
    }

    /// <summary>Descriptors of this process open on <paramref name="path"/>, read from /proc/self/fd.</summary>
    private static List<int> OpenOn(string path) =>
        [.. Directory.GetFiles("/proc/self/fd")
            .Select(f => (Fd: int.Parse(Path.GetFileName(f), System.Globalization.CultureInfo.InvariantCulture), Target: ReadLink(f)))
            .Where(e => e.Target == path)
            .Select(e => e.Fd)];

    private static string? ReadLink(string link)
    {
        try
        {
            return File.ResolveLinkTarget(link, returnFinalTarget: false)?.FullName;
        }
        catch (IOException)
        {
            return null;
        }
    }

    [Test]
    public void A_request_with_two_or_three_descriptors_is_refused_and_none_stays_open()
    {
        var (client, server, dir) = Pair();
        try
        {
            var first = Path.Combine(dir, "first");
            var second = Path.Combine(dir, "second");
            using var a = File.Open(first, FileMode.CreateNew, FileAccess.ReadWrite);
            using var b = File.Open(second, FileMode.CreateNew, FileAccess.ReadWrite);
            var buffer = new byte[64];
            var taken = new List<int>();
            for (var i = 0; i < 10; i++)
            {
                // Two descriptors, then three (more than the control buffer could hold: MSG_CTRUNC).
                var (fa, fb) = ((int)a.SafeFileHandle.DangerousGetHandle(), (int)b.SafeFileHandle.DangerousGetHandle());
                FdPassing.Send(client, "request"u8, i % 2 == 0 ? [fa, fb] : [fa, fb, fb]);
                var n = FdPassing.Receive(server, buffer, out var fd);
                Assert.That(Encoding.ASCII.GetString(buffer, 0, n), Is.EqualTo("request"));
                if (fd >= 0)
                {
                    // What the daemon does with the descriptor it is given: it closes it when the delivery is done.
                    taken.Add(fd);
                    new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true).Dispose();
                }
            }

            // Only the test's own descriptors are open on the two files: none came in and stayed.
            Assert.That((OpenOn(first).Count, OpenOn(second).Count), Is.EqualTo((1, 1)), "descriptors open on (first, second)");
            Assert.That(taken, Is.Empty, "refused: the daemon cannot know which descriptor is the message");

            // One descriptor, as qremote sends it: taken.
            FdPassing.Send(client, "one"u8, (int)a.SafeFileHandle.DangerousGetHandle());
            _ = FdPassing.Receive(server, buffer, out var one);
            Assert.That(one, Is.GreaterThanOrEqualTo(0));
            using var received = new Microsoft.Win32.SafeHandles.SafeFileHandle(one, ownsHandle: true);
            Assert.That(OpenOn(first), Does.Contain(one));
        }
        finally
        {
            client.Dispose();
            server.Dispose();
            Directory.Delete(dir, recursive: true);
        }
    }
}
