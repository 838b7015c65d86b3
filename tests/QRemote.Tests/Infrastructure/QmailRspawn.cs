using System.Text;

namespace QRemote.Tests.Infrastructure;

/// <summary>What qmail-rspawn makes of one run's output: the letter and text it hands to qmail-send.</summary>
internal sealed record RspawnResult(byte[] Output, char Letter, string Text, int ExitCode)
{
    public string Shown => Harness.Shown(Output);
}

/// <summary>
/// Runs the published binary the way qmail-rspawn does: stdin the message file (a regular file),
/// stdout and stderr one pipe, an empty environment but PATH, an unprivileged user, a working
/// directory it cannot write; and reads the output with qmail-rspawn's rules.
/// </summary>
internal static class QmailRspawn
{
    public const string User = "nobody";

    /// <param name="program">What to run instead of the published binary's qmail-remote (with <paramref name="options"/>: qremote).</param>
    public static RspawnResult Run(string qmailHome, string messageFile, string[] argv, NetworkNamespace? netns = null, string[]? options = null, bool stdinFromPipe = false,
        string? program = null)
    {
        File.SetUnixFileMode(messageFile, (UnixFileMode)0b110_100_100);
        // qmail-rspawn's working directory is HOME/queue/mess, root-owned: nobody cannot write there.
        // QRemote finds qmail's home from it, so no option is passed.
        var temporaryCwd = !Directory.Exists(qmailHome);
        var cwd = temporaryCwd ? Directory.CreateTempSubdirectory("qremote-cwd-").FullName : Path.Combine(qmailHome, "queue", "mess");
        Directory.CreateDirectory(cwd);
        File.SetUnixFileMode(cwd, (UnixFileMode)0b111_101_101);
        var args = new List<string>();
        if (netns is not null)
        {
            args.AddRange(netns.Prefix);
            args.Add("/usr/bin/setpriv");
        }

        // setpriv drops to nobody; env - leaves only PATH, as qmailr's environment; sh joins stderr
        // to stdout and opens the message file as stdin, as qmail-rspawn's fork does.
        args.AddRange(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/env", "-", "PATH=/usr/bin:/bin",
            "/bin/sh", "-c", stdinFromPipe ? "m=$1; shift; cat \"$m\" | \"$0\" \"$@\" 2>&1" : "m=$1; shift; exec \"$0\" \"$@\" <\"$m\" 2>&1",
            program ?? (options is null ? PublishedBinary.QmailRemote : PublishedBinary.Path), messageFile]);
        args.AddRange(options ?? []);
        args.AddRange(argv);
        FinishedProcess run;
        try
        {
            run = ExternalProcess.RunToEnd(netns is null ? "/usr/bin/setpriv" : NetworkNamespace.Ip, args,
                new() { WorkingDirectory = cwd, Timeout = TimeSpan.FromSeconds(120) });
        }
        finally
        {
            if (temporaryCwd)
            {
                Directory.Delete(cwd);
            }
        }

        if (run.Errors.Length > 0)
        {
            throw new InvalidOperationException($"setpriv or ip failed: {run.Errors}");
        }

        var (letter, text) = Interpret(run.Output, run.ExitCode);
        return new RspawnResult(run.Output, letter, text, run.ExitCode);
    }

    /// <summary>
    /// qmail-rspawn's report(): exit codes first (crash or 111: Z; other non-zero: D); the first
    /// NUL-terminated chunk starting with K, Z or D decides, D if there is none (a missing final NUL
    /// is a bounce); a leading s or h report overrides it with Z or D.
    /// </summary>
    public static (char Letter, string Text) Interpret(byte[] output, int exitCode)
    {
        if (exitCode == 111)
        {
            return ('Z', "Unable to run qmail-remote.\n");
        }

        if (exitCode != 0)
        {
            return ('D', "Unable to run qmail-remote.\n");
        }

        if (output.Length == 0)
        {
            return ('Z', "qmail-remote produced no output.\n");
        }

        var chunks = new List<string>();
        var start = 0;
        for (var i = 0; i < output.Length; i++)
        {
            if (output[i] == 0)
            {
                chunks.Add(Encoding.UTF8.GetString(output, start, i - start));
                start = i + 1;
            }
        }

        var result = chunks.FirstOrDefault(c => c.Length > 0 && c[0] is 'K' or 'Z' or 'D')?[0] ?? 'D';
        var letter = output[0] == 's' ? 'Z' : output[0] == 'h' ? 'D' : result;
        var text = chunks.Count > 0 ? chunks[0][1..] : "";
        if (chunks.Count > 1 && chunks[1].Length > 0 && chunks[1][0] is 'K' or 'Z' or 'D')
        {
            text += chunks[1][1..];
        }

        return (letter, text);
    }
}
