
namespace QRemote.Tests.Infrastructure;

/// <summary>A temporary qmail home with <c>queue/lock</c>, and qmail's tcpto of 1024 zero bytes unless asked otherwise.</summary>
internal sealed class TcpToHome : IDisposable
{
    private TcpToHome(string path) => Path = path;

    public string Path { get; }

    public string Ipv4 => System.IO.Path.Combine(Path, "queue", "lock", "tcpto");

    public string Ipv6 => System.IO.Path.Combine(Path, "queue", "lock", "qremote-tcpto6");

    public static TcpToHome Create(bool withTcpto = true)
    {
        var home = new TcpToHome(Directory.CreateTempSubdirectory("qremote-tcpto-").FullName);
        Directory.CreateDirectory(System.IO.Path.Combine(home.Path, "queue", "lock"));
        if (withTcpto)
        {
            File.WriteAllBytes(home.Ipv4, new byte[1024]);
        }

        return home;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
