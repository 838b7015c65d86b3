namespace QRemote.Tests.Infrastructure;

/// <summary>
/// The Native AOT binary the end-to-end tests run: <c>$QREMOTE_BINARY</c> when set (the Cake Test
/// target publishes first and sets it), else published once here into a temporary folder.
/// </summary>
internal static class PublishedBinary
{
    private static readonly Lazy<string> Path_ = new(Find, LazyThreadSafetyMode.ExecutionAndPublication);

    public static string Path => Path_.Value;

    private static readonly Lazy<string> Names = new(MakeNames, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The binary under the name qmail-rspawn starts it by (a symlink, as installed): argv is positions only.</summary>
    public static string QmailRemote => System.IO.Path.Combine(Names.Value, "qmail-remote");

    /// <summary>The binary under the daemon's program name.</summary>
    public static string Daemon => System.IO.Path.Combine(Names.Value, "qremote-daemon");

    /// <summary><c>qremote-handover</c>, published beside qremote (it execs qremote from its own directory).</summary>
    public static string HandOver
    {
        get
        {
            var path = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(Path)!, "qremote-handover");
            return File.Exists(path) ? path : throw new FileNotFoundException($"{path} does not exist: publish src/QRemote.HandOver beside qremote");
        }
    }

    /// <summary><c>qremote-handover</c> under the name qmail-rspawn starts (a symlink, as the installer makes it when the
    /// daemon runs).</summary>
    public static string HandOverQmailRemote => System.IO.Path.Combine(Names.Value, "handover", "qmail-remote");

    /// <summary>A directory (readable by nobody, whom the qmail-rspawn tests run as) of symlinks to the binary.</summary>
    private static string MakeNames()
    {
        var dir = Directory.CreateTempSubdirectory("qremote-names-").FullName;
        File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        File.CreateSymbolicLink(System.IO.Path.Combine(dir, "qmail-remote"), Path);
        File.CreateSymbolicLink(System.IO.Path.Combine(dir, "qremote-daemon"), Path);
        var handOver = Directory.CreateDirectory(System.IO.Path.Combine(dir, "handover")).FullName;
        File.SetUnixFileMode(handOver, (UnixFileMode)0b111_101_101);
        File.CreateSymbolicLink(System.IO.Path.Combine(handOver, "qmail-remote"), HandOver);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return dir;
    }

    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "QRemote.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("cannot find QRemote.sln above the test directory");
    }

    private static string Find()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("QREMOTE_BINARY");
        if (!string.IsNullOrEmpty(fromEnvironment))
        {
            if (!File.Exists(fromEnvironment))
            {
                throw new FileNotFoundException($"QREMOTE_BINARY={fromEnvironment} does not exist");
            }

            return fromEnvironment;
        }

        var output = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"qremote-publish-{Environment.ProcessId}");
        var project = System.IO.Path.Combine(RepositoryRoot(), "src", "QRemote", "QRemote.csproj");
        ExternalProcess.Run("dotnet", "publish", project, "-c", "Release", "-o", output, "--nologo", "-v", "q");
        var handOver = System.IO.Path.Combine(RepositoryRoot(), "src", "QRemote.HandOver", "QRemote.HandOver.csproj");
        ExternalProcess.Run("dotnet", "publish", handOver, "-c", "Release", "-o", output, "--nologo", "-v", "q");
        // Each test run publishes its own copy; it goes when the run ends (it is some 30 MB with symbols).
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(output, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return System.IO.Path.Combine(output, "qremote");
    }
}
