// QRemote's build script (Cake 7). Run with:  dotnet tool restore && dotnet cake --target=<Target>
//
//   Build    dotnet build QRemote.sln -c Release
//   Publish  Native AOT binary for linux-x64 -> artifacts/publish/qremote
//   Test     (default) Publish, then dotnet test with a TRX log; ends with "N passed, N failed"
//   Demo     Publish, then deliver a sample message to a loopback smtp-sink, as qmail-rspawn would
//   Bench    Publish, bench/LockStep and bench/Floor published, then bash bench/run.sh (every bench script, rtt.sh, bench/Micro)
//   Clean    removes artifacts/
//   Install    Publish, then QMAILHOME/bin/qmail-remote -> PREFIX/qremote; the original kept as qmail-remote.orig
//   Uninstall  the original qmail-remote put back; PREFIX/qremote removed            (docs/install.md)
//
// Options: --configuration=Release (default), --test-filter=<dotnet test --filter expression>,
//          --exclusive (run only the target, without the targets it depends on).
//          Install, Uninstall: --qmail-home=DIR (default /var/qmail),
//          --prefix=DIR (where the binary goes; default /usr/local/libexec/qremote).

using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Xml.Linq;

var target = Argument("target", "Test");
var configuration = Argument("configuration", "Release");
var testFilter = Argument("test-filter", "");   // passed to dotnet test --filter when given

var root = MakeAbsolute(Directory("."));
var solution = root.CombineWithFilePath("QRemote.sln");
var project = root.CombineWithFilePath("src/QRemote/QRemote.csproj");
var artifacts = root.Combine("artifacts");
var publishDir = artifacts.Combine("publish");
var binary = publishDir.CombineWithFilePath("qremote");
var testResults = artifacts.Combine("test-results");
var installDeps = root.CombineWithFilePath("scripts/install-deps.sh");

// ---------------------------------------------------------------------------------------------
// Helpers

// Runs a program, its output going to ours; returns the exit code.
int Run(string file, params string[] args)
{
    var psi = new ProcessStartInfo(file) { UseShellExecute = false };
    foreach (var a in args) psi.ArgumentList.Add(a);
    using var p = Process.Start(psi);
    p.WaitForExit();
    return p.ExitCode;
}

// Runs a program and returns its standard output (trimmed), or null when it could not be run.
string Capture(string file, params string[] args)
{
    try
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi);
        var output = p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0 ? output.Trim() : null;
    }
    catch (System.ComponentModel.Win32Exception)
    {
        return null;
    }
}

bool IsRoot() => Capture("id", "-u") == "0";

// The first of these found on PATH (or given as an absolute path), else null.
string FindProgram(params string[] names)
{
    var path = (Environment.GetEnvironmentVariable("PATH") ?? "") + ":/usr/local/sbin:/usr/sbin:/sbin";
    foreach (var name in names)
    {
        if (name.StartsWith("/")) { if (System.IO.File.Exists(name)) return name; continue; }
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = System.IO.Path.Combine(dir, name);
            if (System.IO.File.Exists(candidate)) return candidate;
        }
    }
    return null;
}

// As root, scripts/install-deps.sh installs whatever of a group's packages is missing (build: clang and
// zlib1g-dev; demo: build + postfix; all: demo + what the tests run), and does nothing when all are there.
// As anyone else, the caller checks what it needs and says what to do.
void InstallDepsIfRoot(string group)
{
    if (!IsRoot()) return;
    var rc = Run("bash", installDeps.FullPath, group);
    if (rc != 0) throw new CakeException($"scripts/install-deps.sh failed (exit {rc})");
}

int FreeLoopbackPort()
{
    var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    var port = ((IPEndPoint)listener.LocalEndpoint).Port;
    listener.Stop();
    return port;
}

bool PortAccepts(int port)
{
    try
    {
        using var client = new TcpClient();
        client.Connect(IPAddress.Loopback, port);
        return true;
    }
    catch (SocketException)
    {
        return false;
    }
}

// ---------------------------------------------------------------------------------------------
// Targets

Task("Clean")
    .Does(() =>
{
    if (DirectoryExists(artifacts)) DeleteDirectory(artifacts, new DeleteDirectorySettings { Recursive = true, Force = true });
});

Task("Build")
    .Does(() =>
{
    DotNetBuild(solution.FullPath, new DotNetBuildSettings { Configuration = configuration });
});

Task("Publish")
    .Does(() =>
{
    InstallDepsIfRoot("build");

    // Native AOT links with clang (or gcc) and needs zlib's headers.
    var clang = FindProgram("clang");
    var gcc = FindProgram("gcc");
    var zlib = System.IO.File.Exists("/usr/include/zlib.h");
    if ((clang is null && gcc is null) || !zlib)
    {
        var missing = new List<string>();
        if (clang is null && gcc is null) missing.Add("clang");
        if (!zlib) missing.Add("zlib1g-dev");
        throw new CakeException(
            $"Native AOT publish needs {string.Join(" and ", missing)}, which are not installed. " +
            $"Run as root: bash scripts/install-deps.sh build   (or: sudo apt-get install -y {string.Join(" ", missing)})");
    }

    var msbuild = new DotNetMSBuildSettings();
    // ARSoft.Tools.Net's one AOT warning (IL3053) is handled in QRemote.csproj, where it is explained.
    if (clang is null)
    {
        Information("clang not found; linking with gcc");
        msbuild.Properties["CppCompilerAndLinker"] = new[] { "gcc" };
    }

    DotNetPublish(project.FullPath, new DotNetPublishSettings
    {
        Configuration = configuration,
        Runtime = "linux-x64",
        OutputDirectory = publishDir,
        MSBuildSettings = msbuild,
    });

    if (!FileExists(binary)) throw new CakeException($"publish did not produce {binary.FullPath}");
    // The daemon is the same binary under its own program name (docs/daemon.md).
    var daemonLink = System.IO.Path.Combine(publishDir.FullPath, "qremote-daemon");
    if (System.IO.File.Exists(daemonLink) || new System.IO.FileInfo(daemonLink).LinkTarget is not null) System.IO.File.Delete(daemonLink);
    System.IO.File.CreateSymbolicLink(daemonLink, "qremote");
    Information($"published {binary.FullPath} ({new System.IO.FileInfo(binary.FullPath).Length / 1024} KiB)");
});

Task("Test")
    .IsDependentOn("Publish")
    .Does(() =>
{
    // The tests run smtp-sink, named, unbound, swaks...: as root, install what is missing.
    InstallDepsIfRoot("all");

    // The end-to-end tests run the published binary.
    Environment.SetEnvironmentVariable("QREMOTE_BINARY", binary.FullPath);

    if (DirectoryExists(testResults)) DeleteDirectory(testResults, new DeleteDirectorySettings { Recursive = true, Force = true });
    var trx = testResults.CombineWithFilePath("results.trx");

    var settings = new DotNetTestSettings
    {
        Configuration = configuration,
        Loggers = new[] { "trx;LogFileName=results.trx" },
        ResultsDirectory = testResults,
        EnvironmentVariables = new Dictionary<string, string> { ["QREMOTE_BINARY"] = binary.FullPath },
        Filter = string.IsNullOrEmpty(testFilter) ? null : testFilter,
    };

    string runError = null;
    try
    {
        DotNetTest(solution.FullPath, settings);
    }
    catch (Exception e)
    {
        runError = e.Message;
    }

    // Counts from the TRX file's <Counters>.
    long passed = 0, failed = 0, skipped = 0, total = 0;
    if (FileExists(trx))
    {
        var counters = XDocument.Load(trx.FullPath).Descendants().FirstOrDefault(e => e.Name.LocalName == "Counters");
        if (counters is not null)
        {
            long Count(string name) => long.TryParse((string)counters.Attribute(name), out var n) ? n : 0;
            total = Count("total");
            passed = Count("passed");
            failed = Count("failed") + Count("error") + Count("timeout") + Count("aborted");
            // Whatever is neither: NUnit's ignored tests count in total but in none of the outcome
            // counters (not even notExecuted); inconclusive and notExecuted ones land here too.
            skipped = Math.Max(0, total - passed - failed);
        }
    }
    else
    {
        runError ??= $"no TRX file at {trx.FullPath}";
    }

    if (runError is not null) Error("{0}", runError);
    var line = $"{passed} passed, {failed} failed" + (skipped > 0 ? $", {skipped} skipped" : "");
    Console.Out.Flush();
    Console.WriteLine(line);
    Console.Out.Flush();

    var ok = failed == 0 && passed > 0 && runError is null;
    if (target == "Test" || target == "Default")
    {
        // The summary line must be the last line of output (CI reads it there): leave now, before Cake
        // prints its task table or an error block after it. This script has no Setup/Teardown to skip.
        Environment.Exit(ok ? 0 : 1);
    }
    if (!ok) throw new CakeException(passed == 0 && failed == 0 ? "no test ran" : "tests failed");
});

Task("Demo")
    .IsDependentOn("Publish")
    .Does(() =>
{
    InstallDepsIfRoot("demo");
    var sinkProgram = FindProgram("/usr/sbin/smtp-sink", "smtp-sink");
    if (sinkProgram is null)
        throw new CakeException("Demo needs Postfix's smtp-sink (/usr/sbin/smtp-sink). Run as root: bash scripts/install-deps.sh demo   (or: sudo apt-get install -y postfix)");

    var work = System.IO.Directory.CreateTempSubdirectory("qremote-demo-").FullName;
    Process sink = null;
    try
    {
        // A qmail home that routes example.test to the sink.
        var port = FreeLoopbackPort();
        var home = System.IO.Path.Combine(work, "qmail");
        var control = System.IO.Path.Combine(home, "control");
        System.IO.Directory.CreateDirectory(control);
        System.IO.File.WriteAllText(System.IO.Path.Combine(control, "me"), "demo.example.org\n");
        System.IO.File.WriteAllText(System.IO.Path.Combine(control, "smtproutes"), $"example.test:127.0.0.1:{port}\n");

        // smtp-sink (running as nobody when we are root) dumps each transaction into this directory.
        var dump = System.IO.Path.Combine(work, "dump");
        System.IO.Directory.CreateDirectory(dump);
        System.IO.File.SetUnixFileMode(work, (UnixFileMode)0b111_101_101);
        System.IO.File.SetUnixFileMode(dump, (UnixFileMode)0b111_111_111);

        // The sample message, as qmail-queue stores it: LF line ends, headers then body.
        var messagePath = System.IO.Path.Combine(work, "hello.eml");
        System.IO.File.WriteAllText(messagePath,
            "From: Sender <sender@example.org>\n" +
            "To: Recipient <rcpt@example.test>\n" +
            "Subject: Hello from QRemote\n" +
            "Date: Tue, 25 Nov 2025 12:00:00 +0000\n" +
            "Message-ID: <demo.1@example.org>\n" +
            "\n" +
            "Hello,\n" +
            "\n" +
            "this message went through qremote, QRemote's qmail-remote.\n" +
            ".a line that starts with a dot, to show dot-stuffing\n" +
            "\n" +
            "-- \n" +
            "QRemote demo\n");

        var sinkArgs = new List<string>();
        if (IsRoot()) sinkArgs.AddRange(new[] { "-u", "nobody" });
        sinkArgs.AddRange(new[] { "-d", System.IO.Path.Combine(dump, "%M."), $"127.0.0.1:{port}", "10" });
        Information($"starting {sinkProgram} {string.Join(" ", sinkArgs)}");
        var sinkInfo = new ProcessStartInfo(sinkProgram) { UseShellExecute = false, WorkingDirectory = work };
        foreach (var a in sinkArgs) sinkInfo.ArgumentList.Add(a);
        sink = Process.Start(sinkInfo);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!PortAccepts(port))
        {
            if (sink.HasExited) throw new CakeException($"smtp-sink exited (code {sink.ExitCode}) before listening");
            if (DateTime.UtcNow > deadline) throw new CakeException($"smtp-sink did not listen on 127.0.0.1:{port} within 10 s");
            System.Threading.Thread.Sleep(100);
        }

        // As qmail-rspawn runs qmail-remote: host sender recipient..., the message on stdin, the
        // report on stdout (a pipe).
        var qremoteArgs = new[] { "--qmail-home", home, "example.test", "sender@example.org", "rcpt@example.test" };
        Information($"running {binary.FullPath} {string.Join(" ", qremoteArgs)} < hello.eml");
        var psi = new ProcessStartInfo(binary.FullPath) { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true };
        foreach (var a in qremoteArgs) psi.ArgumentList.Add(a);
        byte[] reportBytes;
        int qremoteExit;
        using (var qremote = Process.Start(psi))
        {
            var reading = System.Threading.Tasks.Task.Run(() =>
            {
                using var ms = new System.IO.MemoryStream();
                qremote.StandardOutput.BaseStream.CopyTo(ms);
                return ms.ToArray();
            });
            using (var input = System.IO.File.OpenRead(messagePath))
            {
                input.CopyTo(qremote.StandardInput.BaseStream);
            }
            qremote.StandardInput.Close();
            if (!qremote.WaitForExit(120_000))
            {
                qremote.Kill(true);
                throw new CakeException("qremote did not finish within 120 s");
            }
            reportBytes = reading.Result;
            qremoteExit = qremote.ExitCode;
        }

        var report = System.Text.Encoding.UTF8.GetString(reportBytes);
        Information("");
        Information($"qremote exit code: {qremoteExit}");
        Information("report (NUL shown as \\0):");
        Information("{0}", report.Replace("\0", "\\0"));

        // The dump file appears once the sink has the whole message.
        string[] dumps = System.Array.Empty<string>();
        deadline = DateTime.UtcNow.AddSeconds(5);
        while ((dumps = System.IO.Directory.GetFiles(dump)).Length == 0 && DateTime.UtcNow < deadline)
            System.Threading.Thread.Sleep(100);
        foreach (var file in dumps)
        {
            Information("");
            Information($"smtp-sink received ({System.IO.Path.GetFileName(file)}):");
            Information("{0}", System.IO.File.ReadAllText(file).TrimEnd('\n'));
        }
        if (dumps.Length == 0) Warning("smtp-sink wrote no dump file");

        var parts = report.Split('\0', StringSplitOptions.RemoveEmptyEntries);
        var ok = qremoteExit == 0 && report.StartsWith("r") && parts.Skip(1).Any(p => p.StartsWith("K"));
        if (!ok) throw new CakeException("Demo failed: the report is not 'r...' followed by a 'K' report");
        Information("");
        Information("Demo delivered: the report starts with r and has a K report.");
    }
    finally
    {
        if (sink is not null)
        {
            try { if (!sink.HasExited) { sink.Kill(true); sink.WaitForExit(5000); } } catch (InvalidOperationException) { }
            sink.Dispose();
        }
        try { System.IO.Directory.Delete(work, true); } catch (System.IO.IOException) { } catch (UnauthorizedAccessException) { }
    }
});

Task("Bench")
    .IsDependentOn("Publish")
    .Does(() =>
{
    // The bench scripts run BIND9, smtp-sink, openssl and the rest; as root they are installed when missing.
    InstallDepsIfRoot("all");

    // The reference client of bench/rtt.sh, published AOT like qremote (linked with gcc when there is no clang).
    var msbuild = new DotNetMSBuildSettings();
    if (FindProgram("clang") is null) msbuild.Properties["CppCompilerAndLinker"] = new[] { "gcc" };
    DotNetPublish(root.CombineWithFilePath("bench/LockStep/LockStep.csproj").FullPath, new DotNetPublishSettings
    {
        Configuration = "Release",
        Runtime = "linux-x64",
        OutputDirectory = artifacts.Combine("bench/lockstep"),
        MSBuildSettings = msbuild,
    });

    // The floor of bench/process.py: an AOT hello world published with qremote's options (src/QRemote/NativeAot.props).
    DotNetPublish(root.CombineWithFilePath("bench/Floor/Floor.csproj").FullPath, new DotNetPublishSettings
    {
        Configuration = "Release",
        Runtime = "linux-x64",
        OutputDirectory = artifacts.Combine("bench/floor"),
        MSBuildSettings = msbuild,
    });

    // Every script in bench/ (process.sh first, with PUBLISH=0: both binaries are fresh; rtt.sh as root), then the
    // BenchmarkDotNet micro-benchmarks (bench/Micro).
    var script = root.CombineWithFilePath("bench/run.sh");
    var rc = Run("bash", script.FullPath);
    if (rc != 0) throw new CakeException($"bench/run.sh failed (exit {rc})");
});

// ---------------------------------------------------------------------------------------------
// Install and Uninstall: QRemote in place of qmail's qmail-remote (docs/install.md).
//
//   dotnet cake --target=Install   [--qmail-home=/var/qmail] [--prefix=/usr/local/libexec/qremote]
//   dotnet cake --target=Uninstall [--qmail-home=/var/qmail] [--prefix=/usr/local/libexec/qremote]
//
// Install copies the published binary to PREFIX/qremote, keeps qmail's own QMAILHOME/bin/qmail-remote
// as qmail-remote.orig and makes QMAILHOME/bin/qmail-remote a symlink to PREFIX/qremote. Uninstall
// renames qmail-remote.orig back over the symlink and removes PREFIX/qremote. qmail-rspawn may start
// a delivery at any moment, so every step it could see is a single rename(2): the original is kept
// by a hard link (it never leaves qmail-remote before the symlink replaces it), the symlink and the
// binary are made under temporary names in their own directory and renamed into place. Both targets
// are idempotent: a second run finds nothing to do and says so.

var qmailHomeArgument = Argument("qmail-home", "/var/qmail");
var prefixArgument = Argument("prefix", "/usr/local/libexec/qremote");

const UnixFileMode Mode0755 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
    | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

// The paths both targets work on, absolute.
class InstallPaths
{
    public string Home;       // QMAILHOME
    public string Bin;        // QMAILHOME/bin
    public string Remote;     // QMAILHOME/bin/qmail-remote
    public string Orig;       // QMAILHOME/bin/qmail-remote.orig
    public string Prefix;     // PREFIX
    public string Installed;  // PREFIX/qremote
}

InstallPaths GetInstallPaths()
{
    string Full(string p) => System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(p));
    if (string.IsNullOrWhiteSpace(qmailHomeArgument)) throw new CakeException("--qmail-home needs a directory");
    if (string.IsNullOrWhiteSpace(prefixArgument)) throw new CakeException("--prefix needs a directory");
    var home = Full(qmailHomeArgument);
    var bin = System.IO.Path.Combine(home, "bin");
    var prefix = Full(prefixArgument);
    return new InstallPaths
    {
        Home = home,
        Bin = bin,
        Remote = System.IO.Path.Combine(bin, "qmail-remote"),
        Orig = System.IO.Path.Combine(bin, "qmail-remote.orig"),
        Prefix = prefix,
        Installed = System.IO.Path.Combine(prefix, "qremote"),
    };
}

void Say(string message) => Information("{0}", message);

// What is at a path, without following a symlink there: "missing", "symlink", "directory" or "file".
string PathKind(string path)
{
    if (new System.IO.FileInfo(path).LinkTarget is not null) return "symlink";
    if (System.IO.Directory.Exists(path)) return "directory";
    if (System.IO.File.Exists(path)) return "file";
    return "missing";
}

// A symlink's target as written in it, and that target made absolute (relative to the link's directory).
string LinkTargetText(string link) => new System.IO.FileInfo(link).LinkTarget;
string LinkTargetFull(string link) =>
    System.IO.Path.GetFullPath(LinkTargetText(link), System.IO.Path.GetDirectoryName(link));

// The canonical path (every symlink resolved), or null when it does not resolve to an existing file.
string RealPath(string path) => Capture("realpath", "-e", "--", path);

// Whether the symlink at `link` leads to our installed binary: by its text, or (when both exist) by
// the file it finally resolves to.
bool LinksToInstalled(string link, InstallPaths p)
{
    if (PathKind(link) != "symlink") return false;
    if (LinkTargetFull(link) == p.Installed) return true;
    var a = RealPath(link);
    var b = RealPath(p.Installed);
    return a is not null && a == b;
}

bool SameBytes(string a, string b)
{
    var fa = new System.IO.FileInfo(a);
    var fb = new System.IO.FileInfo(b);
    if (!fa.Exists || !fb.Exists || fa.Length != fb.Length) return false;
    using var sa = fa.OpenRead();
    using var sb = fb.OpenRead();
    var ba = new byte[1 << 16];
    var bb = new byte[1 << 16];
    while (true)
    {
        var na = sa.ReadAtLeast(ba, ba.Length, throwOnEndOfStream: false);
        var nb = sb.ReadAtLeast(bb, bb.Length, throwOnEndOfStream: false);
        if (na != nb) return false;
        if (na == 0) return true;
        if (!ba.AsSpan(0, na).SequenceEqual(bb.AsSpan(0, nb))) return false;
    }
}

string OwnerOf(string path) => Capture("stat", "-c", "%u:%g", "--", path);

string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8).PadLeft(4, '0');

// Runs a program quietly; returns its exit code and, through `output`, its stdout and stderr.
int RunQuiet(string file, out string output, params string[] args)
{
    var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in args) psi.ArgumentList.Add(a);
    using var proc = Process.Start(psi);
    var stdout = proc.StandardOutput.ReadToEndAsync();
    var stderr = proc.StandardError.ReadToEnd();
    proc.WaitForExit();
    output = (stdout.Result + stderr).Trim();
    return proc.ExitCode;
}

// The checks both targets make before touching anything. QMAILHOME/bin must exist: it holds
// qmail-send, qmail-rspawn and qmail-remote in every qmail (netqmail, notqmail), whatever the home.
void RequireQmailBin(InstallPaths p)
{
    if (!System.IO.Directory.Exists(p.Bin))
        throw new CakeException(
            $"{p.Bin} does not exist: qmail is not installed in {p.Home}. " +
            "Give qmail's home with --qmail-home=DIR (netqmail: /var/qmail; notqmail: the home it was built with, conf-qmail).");
}

// Install's plan for QMAILHOME/bin/qmail-remote: "linked" (already ours), "keep-original" (a regular
// file, or a symlink that is not ours, to be kept as .orig), "relink" (another QRemote's symlink,
// with .orig already there, or only .orig left), or an exception saying why Install must not go on.
string PlanInstall(InstallPaths p)
{
    RequireQmailBin(p);
    var remote = PathKind(p.Remote);
    var orig = PathKind(p.Orig);
    if (orig == "directory")
        throw new CakeException($"{p.Orig} is a directory; Install keeps qmail's original qmail-remote under that name. Move it away and run Install again.");

    switch (remote)
    {
        case "symlink" when LinksToInstalled(p.Remote, p):
            return "linked";
        case "symlink":
            if (orig == "missing") return "keep-original";
            if (System.IO.Path.GetFileName(LinkTargetText(p.Remote)) == "qremote") return "relink";
            throw new CakeException(
                $"{p.Remote} is a symlink to {LinkTargetText(p.Remote)}, and {p.Orig} exists too. Install never overwrites " +
                $"{System.IO.Path.GetFileName(p.Orig)} and does not know what that symlink is: decide which qmail-remote to keep " +
                "as qmail-remote.orig, remove the other, and run Install again.");
        case "file":
            if (orig == "missing") return "keep-original";
            if (orig == "file" && SameBytes(p.Remote, p.Orig)) return "relink";   // .orig already holds this very binary
            throw new CakeException(
                $"{p.Remote} is a regular file and {p.Orig} already exists with other contents (was qmail reinstalled over " +
                "an earlier QRemote install?). Install never overwrites qmail-remote.orig. Compare them " +
                $"(cmp {p.Remote} {p.Orig}), remove the one you do not want as the original, and run Install again.");
        case "missing":
            if (orig != "missing") return "relink";
            throw new CakeException(
                $"{p.Bin} has no qmail-remote (and no qmail-remote.orig): this is not a complete qmail installation. " +
                "Check --qmail-home, or reinstall qmail first.");
        default:
            throw new CakeException($"{p.Remote} is a {remote}, not qmail's binary; Install will not touch it.");
    }
}

// Creates `dir` and its missing parents with mode 0755, whatever the umask: qmailr must reach the binary.
void CreateDirectory0755(string dir)
{
    if (System.IO.Directory.Exists(dir)) return;
    var parent = System.IO.Path.GetDirectoryName(dir);
    if (parent is not null) CreateDirectory0755(parent);
    System.IO.Directory.CreateDirectory(dir);
    System.IO.File.SetUnixFileMode(dir, Mode0755);
    Say($"install: created directory {dir} (mode 0755)");
}

// Warns about a directory on the way to the binary that qmailr (not root, not in root's group) cannot search.
void WarnIfUnreachable(string path)
{
    for (var dir = System.IO.Path.GetDirectoryName(path); dir is not null; dir = System.IO.Path.GetDirectoryName(dir))
    {
        var mode = System.IO.File.GetUnixFileMode(dir);
        if ((mode & UnixFileMode.OtherExecute) == 0)
            Warning("{0}", $"install: {dir} is mode {Octal(mode)}: other users (qmailr) cannot reach {path}. Run: chmod o+x {dir}");
    }
}

// The qmail home PREFIX/qremote reports with --show-config when run as qmail-rspawn runs it: no options,
// an empty environment, QMAILHOME/queue/mess as working directory. Null when it cannot be told.
string HomeUnderQmail(InstallPaths p)
{
    var cwd = System.IO.Path.Combine(p.Home, "queue", "mess");
    var psi = new ProcessStartInfo(p.Installed, "--show-config")
    {
        UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true,
        WorkingDirectory = System.IO.Directory.Exists(cwd) ? cwd : p.Home,
    };
    psi.Environment.Clear();
    psi.Environment["PATH"] = "/usr/bin:/bin";
    using var proc = Process.Start(psi);
    var output = proc.StandardOutput.ReadToEndAsync();
    proc.StandardError.ReadToEnd();
    proc.WaitForExit();
    var line = output.Result.Split('\n').FirstOrDefault(l => l.StartsWith("qmail home: ", StringComparison.Ordinal));
    return line is null ? null : System.IO.Path.TrimEndingDirectorySeparator(line.Substring("qmail home: ".Length).Trim());
}

Task("InstallCheck")
    .Description("Install's checks, made before Publish so that a wrong --qmail-home fails at once")
    .Does(() =>
{
    var p = GetInstallPaths();
    PlanInstall(p);
    Say($"install: qmail home {p.Home}, binary to {p.Installed}");
});

Task("Install")
    .Description("Publish, then put QRemote in place of QMAILHOME/bin/qmail-remote (--qmail-home=DIR, --prefix=DIR)")
    .IsDependentOn("InstallCheck")
    .IsDependentOn("Publish")
    .Does(() =>
{
    var p = GetInstallPaths();
    var plan = PlanInstall(p);
    var root = IsRoot();
    var changes = 0;
    if (!FileExists(binary)) throw new CakeException($"{binary.FullPath} does not exist: run the Publish target first");

    // 1. The binary: PREFIX/qremote, mode 0755, owned by root when we are root. A new copy is made under
    //    a temporary name, checked (it must run and print its version), then renamed into place.
    CreateDirectory0755(p.Prefix);
    var upToDate = PathKind(p.Installed) == "file"
        && SameBytes(binary.FullPath, p.Installed)
        && System.IO.File.GetUnixFileMode(p.Installed) == Mode0755
        && (!root || OwnerOf(p.Installed) == "0:0");
    if (upToDate)
    {
        Say($"install: {p.Installed} is up to date");
    }
    else
    {
        if (PathKind(p.Installed) == "directory") throw new CakeException($"{p.Installed} is a directory; move it away and run Install again");
        var temp = System.IO.Path.Combine(p.Prefix, $".qremote.install-{Environment.ProcessId}");
        if (PathKind(temp) != "missing") System.IO.File.Delete(temp);
        try
        {
            using (var from = System.IO.File.OpenRead(binary.FullPath))
            using (var to = new System.IO.FileStream(temp, System.IO.FileMode.CreateNew, System.IO.FileAccess.Write))
            {
                from.CopyTo(to);
                to.Flush(flushToDisk: true);
            }
            System.IO.File.SetUnixFileMode(temp, Mode0755);
            if (root && Run("chown", "0:0", "--", temp) != 0) throw new CakeException($"chown 0:0 {temp} failed");

            // Run under its person name: as any other name (this temporary one included) argv is positions only.
            var named = System.IO.Directory.CreateTempSubdirectory("qremote-install-check-").FullName;
            var asQremote = System.IO.Path.Combine(named, "qremote");
            System.IO.File.CreateSymbolicLink(asQremote, temp);
            int rc;
            string version;
            try
            {
                rc = RunQuiet(asQremote, out version, "--version");
            }
            finally
            {
                System.IO.Directory.Delete(named, recursive: true);
            }
            if (rc != 0 || !version.StartsWith("qremote ", StringComparison.Ordinal))
                throw new CakeException($"the copied binary does not run here (exit {rc}: {version}); nothing was changed in {p.Bin}");

            var existed = PathKind(p.Installed) != "missing";
            System.IO.File.Move(temp, p.Installed, overwrite: true);
            Say($"install: {(existed ? "replaced" : "copied")} {p.Installed} ({version}, mode 0755{(root ? ", owner root" : "")})");
            changes++;
        }
        finally
        {
            if (PathKind(temp) != "missing") System.IO.File.Delete(temp);
        }
    }
    WarnIfUnreachable(p.Installed);

    // PREFIX/qremote-daemon -> qremote: the daemon is a program name of its own (docs/daemon.md), never an option.
    var daemonLink = System.IO.Path.Combine(p.Prefix, "qremote-daemon");
    if (PathKind(daemonLink) == "symlink" && LinkTargetText(daemonLink) == "qremote")
    {
        Say($"install: {daemonLink} already links to qremote");
    }
    else if (PathKind(daemonLink) == "missing" || PathKind(daemonLink) == "symlink")
    {
        var temp = System.IO.Path.Combine(p.Prefix, $".qremote-daemon.install-{Environment.ProcessId}");
        if (PathKind(temp) != "missing") System.IO.File.Delete(temp);
        System.IO.File.CreateSymbolicLink(temp, "qremote");
        System.IO.File.Move(temp, daemonLink, overwrite: true);
        Say($"install: {daemonLink} -> qremote");
        changes++;
    }
    else
    {
        throw new CakeException($"{daemonLink} exists and is not a symlink; move it away and run Install again");
    }

    // As qmailr, when there is one: the binary must run as the user qmail-rspawn runs it as.
    if (root && Capture("id", "-u", "qmailr") is not null && FindProgram("runuser") is string runuser)
    {
        var rc = RunQuiet(runuser, out var asQmailr, "-u", "qmailr", "--", p.Installed, "--version");
        if (rc != 0 || !asQmailr.StartsWith("qremote ", StringComparison.Ordinal))
            throw new CakeException($"qmailr cannot run {p.Installed} (exit {rc}: {asQmailr}); {p.Bin}/qmail-remote was not changed");
        Say($"install: qmailr can run {p.Installed}");
    }

    // Which qmail home the binary uses when qmail-rspawn runs it (empty environment, no options, the
    // queue as working directory): if not this one, deliveries from this qmail would read another
    // home's control files. Said loudly; not refused, so that a test home like /tmp/qh can be used.
    var seen = HomeUnderQmail(p);
    if (seen is not null && seen != p.Home)
        Warning("{0}",
            $"install: WARNING: run by qmail-rspawn (no options, empty environment) this QRemote reads {seen}/control, " +
            $"not {p.Home}/control: it does not find its qmail home by itself yet. For a qmail whose home is not {seen}, " +
            "check that QMAILHOME/queue/mess and QMAILHOME/control exist (docs/install.md, \"A qmail home other than /var/qmail\").");

    // 2. The original: kept as qmail-remote.orig by a hard link, so that qmail-remote never goes missing.
    if (plan == "keep-original")
    {
        if (Run("ln", "-P", "--", p.Remote, p.Orig) != 0)
            throw new CakeException($"could not keep {p.Remote} as {p.Orig} (ln failed); nothing was changed in {p.Bin}");
        var what = PathKind(p.Remote) == "symlink" ? $" (the symlink {p.Remote} -> {LinkTargetText(p.Remote)})" : $" {p.Remote}";
        Say($"install: kept the original{what} as {p.Orig}");
        changes++;
    }
    else
    {
        Say(PathKind(p.Orig) == "missing"
            ? $"install: warning: there is no {p.Orig}, so Uninstall will have no original to put back"
            : $"install: the original is already kept as {p.Orig} (left as it is)");
    }

    // 3. qmail-remote -> PREFIX/qremote: a symlink made under a temporary name in QMAILHOME/bin and renamed over it.
    if (plan == "linked")
    {
        Say($"install: {p.Remote} already links to {p.Installed}");
    }
    else
    {
        var previous = PathKind(p.Remote) == "symlink" ? LinkTargetFull(p.Remote) : null;
        var before = previous is null ? "" : $" (it linked to {LinkTargetText(p.Remote)})";
        var temp = System.IO.Path.Combine(p.Bin, $".qmail-remote.qremote-{Environment.ProcessId}");
        if (PathKind(temp) != "missing") System.IO.File.Delete(temp);
        System.IO.File.CreateSymbolicLink(temp, p.Installed);
        try
        {
            System.IO.File.Move(temp, p.Remote, overwrite: true);
        }
        finally
        {
            if (PathKind(temp) != "missing") System.IO.File.Delete(temp);
        }
        if (!LinksToInstalled(p.Remote, p)) throw new CakeException($"{p.Remote} does not link to {p.Installed} after the rename");
        Say($"install: {p.Remote} -> {p.Installed}{before}");
        if (previous is not null && plan == "relink" && System.IO.File.Exists(previous))
            Say($"install: the previous binary {previous} was left in place; nothing runs it from {p.Bin} any more");
        changes++;
    }

    if (changes == 0)
    {
        Say($"install: nothing to do: QRemote was already installed for {p.Home}");
    }
    else
    {
        Say($"install: done. qmail-send needs no restart: qmail-rspawn runs {p.Remote} afresh for each delivery.");
        Say($"install: to go back: dotnet cake --target=Uninstall --qmail-home={p.Home} --prefix={p.Prefix}");
    }
});

Task("Uninstall")
    .Description("Put qmail's original qmail-remote back and remove PREFIX/qremote (--qmail-home=DIR, --prefix=DIR)")
    .Does(() =>
{
    var p = GetInstallPaths();
    RequireQmailBin(p);
    var changes = 0;
    var restored = false;
    var remote = PathKind(p.Remote);
    var orig = PathKind(p.Orig);
    var origUsable = orig == "file" || orig == "symlink";

    // 1. QMAILHOME/bin/qmail-remote: the original renamed back over our symlink, in one step.
    if (remote == "symlink" && LinksToInstalled(p.Remote, p))
    {
        if (!origUsable)
            throw new CakeException(
                $"{p.Remote} links to QRemote and there is no {p.Orig} to put back. Uninstall refuses: without qmail-remote " +
                "every remote delivery would fail. Put qmail's own qmail-remote there first (from qmail's build directory, " +
                $"e.g. install -m 0711 qmail-remote {p.Orig}), then run Uninstall again. Nothing was changed.");
        System.IO.File.Move(p.Orig, p.Remote, overwrite: true);
        Say($"uninstall: restored the original: {p.Orig} renamed to {p.Remote}");
        restored = true;
        changes++;
    }
    else if (remote == "missing" && origUsable)
    {
        System.IO.File.Move(p.Orig, p.Remote, overwrite: false);
        Say($"uninstall: {p.Remote} was missing; restored it from {p.Orig}");
        restored = true;
        changes++;
    }
    else
    {
        var what = remote switch
        {
            "file" => "is a regular file (qmail's own binary)",
            "symlink" => $"links to {LinkTargetText(p.Remote)}, not to {p.Installed}",
            "missing" => "does not exist, and neither does qmail-remote.orig: every remote delivery fails until qmail's qmail-remote is put back",
            _ => $"is a {remote}",
        };
        Say($"uninstall: {p.Remote} {what}; left as it is");
        if (origUsable) Say($"uninstall: note: {p.Orig} exists too; left as it is");
        if (remote == "missing") Warning("{0}", $"uninstall: {p.Remote} is missing");
    }

    // 2. PREFIX/qremote, unless a qmail-remote still links to it (a second qmail home, or the default one).
    if (PathKind(p.Installed) == "missing")
    {
        Say($"uninstall: {p.Installed} is already gone");
    }
    else
    {
        var users = new[] { p.Remote, "/var/qmail/bin/qmail-remote" }.Distinct().Where(link => LinksToInstalled(link, p)).ToList();
        if (users.Count > 0)
        {
            Say($"uninstall: kept {p.Installed}: {string.Join(", ", users)} still links to it");
        }
        else
        {
            System.IO.File.Delete(p.Installed);
            Say($"uninstall: removed {p.Installed}");
            changes++;
            var daemonLink = System.IO.Path.Combine(p.Prefix, "qremote-daemon");
            if (PathKind(daemonLink) == "symlink" && LinkTargetText(daemonLink) == "qremote")
            {
                System.IO.File.Delete(daemonLink);
                Say($"uninstall: removed {daemonLink}");
            }
        }
    }
    if (System.IO.Directory.Exists(p.Prefix))
    {
        foreach (var leftover in System.IO.Directory.GetFiles(p.Prefix, ".qremote.install-*"))
        {
            System.IO.File.Delete(leftover);
            Say($"uninstall: removed the leftover {leftover}");
            changes++;
        }
        // The directory goes too when it is QRemote's own (named qremote) and now empty.
        if (System.IO.Path.GetFileName(p.Prefix) == "qremote" && !System.IO.Directory.EnumerateFileSystemEntries(p.Prefix).Any())
        {
            System.IO.Directory.Delete(p.Prefix);
            Say($"uninstall: removed the empty directory {p.Prefix}");
            changes++;
        }
    }

    Say(changes == 0 ? $"uninstall: nothing to do: QRemote was not installed for {p.Home}"
        : restored ? "uninstall: done. qmail-send needs no restart: the next delivery runs the original qmail-remote."
        : "uninstall: done.");
});

Task("Default").IsDependentOn("Test");

RunTarget(target);
