// Loaded by build.cake (#load): the Install, Uninstall and InstallCheck targets. They use build.cake's helpers
// (Run, Capture, FindProgram, IsRoot) and its `binary` (the published artifacts/publish/qremote).

using System.Diagnostics;

// ---------------------------------------------------------------------------------------------
// Install and Uninstall: QRemote in place of qmail's qmail-remote (docs/install.md).
//
//   dotnet cake --target=Install   [--qmail-home=/var/qmail] [--prefix=/usr/local/libexec/qremote] [--link=qremote-handover]
//   dotnet cake --target=Uninstall [--qmail-home=/var/qmail] [--prefix=/usr/local/libexec/qremote]
//
// Install copies the published binary to PREFIX/qremote, keeps qmail's own QMAILHOME/bin/qmail-remote
// as qmail-remote.orig and makes QMAILHOME/bin/qmail-remote a symlink to PREFIX/qremote. Uninstall
// renames qmail-remote.orig back over the symlink and removes PREFIX/qremote. qmail-rspawn may start
// a delivery at any moment, so every step it could see is a single rename(2): the original is kept
// by a hard link (it never leaves qmail-remote before the symlink replaces it), the symlink and the
// binary are made under temporary names in their own directory and renamed into place. PREFIX/qremote-handover, the small
// qmail-remote for hosts that run qremote-daemon (docs/daemon.md), is installed beside qremote; --link=qremote-handover
// points qmail-remote at it instead of at qremote (it execs qremote whenever there is no daemon to hand over to). Both targets
// are idempotent: a second run finds nothing to do and says so.

var qmailHomeArgument = Argument("qmail-home", "/var/qmail");
var prefixArgument = Argument("prefix", "/usr/local/libexec/qremote");
var linkArgument = Argument("link", "qremote");
// The user qmail-rspawn runs qmail-remote as: the selftest runs as it (qmail built with other user names, and tests).
var qmailUserArgument = Argument("qmail-user", "qmailr");

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
    public string HandOver;   // PREFIX/qremote-handover
    public string Linked;     // what qmail-remote links to: Installed or HandOver (--link)
}

InstallPaths GetInstallPaths()
{
    string Full(string p) => System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(p));
    if (string.IsNullOrWhiteSpace(qmailHomeArgument)) throw new CakeException("--qmail-home needs a directory");
    if (string.IsNullOrWhiteSpace(prefixArgument)) throw new CakeException("--prefix needs a directory");
    var home = Full(qmailHomeArgument);
    var bin = System.IO.Path.Combine(home, "bin");
    var prefix = Full(prefixArgument);
    if (linkArgument is not ("qremote" or "qremote-handover")) throw new CakeException("--link is qremote or qremote-handover");
    return new InstallPaths
    {
        Home = home,
        Bin = bin,
        Remote = System.IO.Path.Combine(bin, "qmail-remote"),
        Orig = System.IO.Path.Combine(bin, "qmail-remote.orig"),
        Prefix = prefix,
        Installed = System.IO.Path.Combine(prefix, "qremote"),
        HandOver = System.IO.Path.Combine(prefix, "qremote-handover"),
        Linked = System.IO.Path.Combine(prefix, linkArgument),
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
bool LinksToInstalled(string link, InstallPaths p) => LinksTo(link, p.Installed) || LinksTo(link, p.HandOver);

bool LinksTo(string link, string target)
{
    if (PathKind(link) != "symlink") return false;
    if (LinkTargetFull(link) == target) return true;
    var a = RealPath(link);
    var b = RealPath(target);
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
        case "symlink" when LinksTo(p.Remote, p.Linked):
            return "linked";
        case "symlink" when LinksToInstalled(p.Remote, p):
            return "relink";   // to QRemote's other binary (--link changed)
        case "symlink":
            if (orig == "missing") return "keep-original";
            if (System.IO.Path.GetFileName(LinkTargetText(p.Remote)) is "qremote" or "qremote-handover") return "relink";
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

// Runs `binaryPath --selftest` under its person name (as root, the binary runs its checks again as the qmail user with
// qmail's empty environment in QMAILHOME/queue/mess) and refuses, changing nothing, unless every check passed: a
// qmail-remote that cannot read its control files, resolve or load TLS would defer or bounce every delivery
// (notqmail #244). Prints the selftest's lines.
void RequireSelfTest(string binaryPath, InstallPaths p)
{
    // A directory qmailr can search (the temporary one is 0700), holding the binary under the name qremote.
    var named = System.IO.Directory.CreateTempSubdirectory("qremote-selftest-").FullName;
    System.IO.File.SetUnixFileMode(named, Mode0755);
    var asQremote = System.IO.Path.Combine(named, "qremote");
    System.IO.File.CreateSymbolicLink(asQremote, binaryPath);
    int rc;
    string output;
    try
    {
        var psi = new ProcessStartInfo(asQremote) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("--selftest");
        psi.ArgumentList.Add($"--qmail-home={p.Home}");
        psi.Environment["QREMOTE_SELFTEST_USER"] = qmailUserArgument;
        using var proc = Process.Start(psi);
        var stdout = proc.StandardOutput.ReadToEndAsync();
        var stderr = proc.StandardError.ReadToEnd();
        if (!proc.WaitForExit(120_000))
        {
            proc.Kill(entireProcessTree: true);
            throw new CakeException($"{binaryPath} --selftest did not finish in 120 s; nothing was changed in {p.Bin}");
        }
        rc = proc.ExitCode;
        output = (stdout.Result + stderr).TrimEnd();
    }
    finally
    {
        System.IO.Directory.Delete(named, recursive: true);
    }
    foreach (var line in output.Split('\n')) Say($"install: selftest: {line}");
    if (rc != 0)
    {
        var failed = output.Split('\n').Where(l => l.StartsWith("FAIL", StringComparison.Ordinal)).ToList();
        throw new CakeException($"the new binary's --selftest failed (exit {rc}{(failed.Count > 0 ? ": " + string.Join("; ", failed) : "")}); " +
            $"{p.Remote} was not switched to it and nothing was changed in {p.Bin}. Fix what it says and run Install again.");
    }
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
    var selfTested = false;
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
            RequireSelfTest(temp, p);
            selfTested = true;

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

    // PREFIX/qremote-handover: copied as qremote was, then checked through its exec of the qremote beside it.
    if (!FileExists(handOverBinary)) throw new CakeException($"{handOverBinary.FullPath} does not exist: run the Publish target first");
    if (PathKind(p.HandOver) == "file" && SameBytes(handOverBinary.FullPath, p.HandOver) && System.IO.File.GetUnixFileMode(p.HandOver) == Mode0755
        && (!root || OwnerOf(p.HandOver) == "0:0"))
    {
        Say($"install: {p.HandOver} is up to date");
    }
    else
    {
        if (PathKind(p.HandOver) == "directory") throw new CakeException($"{p.HandOver} is a directory; move it away and run Install again");
        var temp = System.IO.Path.Combine(p.Prefix, $".qremote-handover.install-{Environment.ProcessId}");
        if (PathKind(temp) != "missing") System.IO.File.Delete(temp);
        try
        {
            System.IO.File.Copy(handOverBinary.FullPath, temp);
            System.IO.File.SetUnixFileMode(temp, Mode0755);
            if (root && Run("chown", "0:0", "--", temp) != 0) throw new CakeException($"chown 0:0 {temp} failed");
            // Under the person name it hands nothing over: it execs PREFIX/qremote, which prints its version.
            var named = System.IO.Directory.CreateTempSubdirectory("qremote-install-check-").FullName;
            int rc;
            string version;
            try
            {
                System.IO.File.CreateSymbolicLink(System.IO.Path.Combine(named, "qremote"), temp);
                rc = RunQuiet(System.IO.Path.Combine(named, "qremote"), out version, "--version");
            }
            finally
            {
                System.IO.Directory.Delete(named, recursive: true);
            }
            if (rc != 0 || !version.StartsWith("qremote ", StringComparison.Ordinal))
                throw new CakeException($"the copied qremote-handover does not run {p.Installed} (exit {rc}: {version}); nothing was changed in {p.Bin}");
            System.IO.File.Move(temp, p.HandOver, overwrite: true);
            Say($"install: copied {p.HandOver} (mode 0755{(root ? ", owner root" : "")})");
            changes++;
        }
        finally
        {
            if (PathKind(temp) != "missing") System.IO.File.Delete(temp);
        }
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

    // The symlink goes only to a binary whose selftest passed (made above when the binary was replaced), and
    // before anything in QMAILHOME/bin is touched.
    if (plan != "linked" && !selfTested) RequireSelfTest(p.Installed, p);

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
        Say($"install: {p.Remote} already links to {p.Linked}");
    }
    else
    {
        var previous = PathKind(p.Remote) == "symlink" ? LinkTargetFull(p.Remote) : null;
        var before = previous is null ? "" : $" (it linked to {LinkTargetText(p.Remote)})";
        var temp = System.IO.Path.Combine(p.Bin, $".qmail-remote.qremote-{Environment.ProcessId}");
        if (PathKind(temp) != "missing") System.IO.File.Delete(temp);
        System.IO.File.CreateSymbolicLink(temp, p.Linked);
        try
        {
            System.IO.File.Move(temp, p.Remote, overwrite: true);
        }
        finally
        {
            if (PathKind(temp) != "missing") System.IO.File.Delete(temp);
        }
        if (!LinksTo(p.Remote, p.Linked)) throw new CakeException($"{p.Remote} does not link to {p.Linked} after the rename");
        Say($"install: {p.Remote} -> {p.Linked}{before}");
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
            if (PathKind(p.HandOver) == "file")
            {
                System.IO.File.Delete(p.HandOver);
                Say($"uninstall: removed {p.HandOver}");
            }
        }
    }
    if (System.IO.Directory.Exists(p.Prefix))
    {
        foreach (var leftover in System.IO.Directory.GetFiles(p.Prefix, ".qremote.install-*").Concat(System.IO.Directory.GetFiles(p.Prefix, ".qremote-handover.install-*")))
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
