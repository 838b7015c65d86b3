namespace QRemote.Tests.Infrastructure;

/// <summary>
/// A qmail home in a temporary directory, as the tests' deliveries read it: <c>control/</c> with <c>control/me</c>
/// (unless <c>me</c> is null), mode 0755 so that qmailr reaches it; removed with everything in it on dispose.
/// </summary>
internal sealed class TempQmailHome : IDisposable
{
    private TempQmailHome(string path) => Path = path;

    public string Path { get; }

    public static TempQmailHome Create(string? me = "qremote.test")
    {
        var home = new TempQmailHome(Directory.CreateTempSubdirectory("qremote-home-").FullName);
        Directory.CreateDirectory(home.Control());
        if (me is not null)
        {
            File.WriteAllText(home.Control("me"), me + "\n");
        }

        File.SetUnixFileMode(home.Path, (UnixFileMode)0b111_101_101);
        return home;
    }

    /// <summary><c>control/</c>, or a file (or directory) under it.</summary>
    public string Control(params string[] names) => System.IO.Path.Combine([Path, "control", .. names]);

    /// <summary>Writes <c>control/NAME</c> (its directory made when missing) and returns its path.</summary>
    public string WriteControl(string name, string contents)
    {
        var path = Control(name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        File.WriteAllText(path, contents);
        return path;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
