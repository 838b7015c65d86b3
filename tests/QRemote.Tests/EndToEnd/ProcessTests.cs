using System.Diagnostics;
using System.Net;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.EndToEnd;

/// <summary>The process under hostile conditions: signals, a closed stdout, a full $TMPDIR.</summary>
[NonParallelizable]
public sealed class ProcessTests
{
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.6");
    private TempQmailHome _home = null!;

    [OneTimeSetUp]
    public void MakeHome()
    {
        _home = TempQmailHome.Create();
        File.WriteAllText(_home.Control("timeoutremote"), "30\n");
        // The deliveries here are to literals and ask no DNS question; still, the host's /etc/resolv.conf is not theirs.
        File.WriteAllText(Path.Combine(_home.Path, "resolv.conf"), "nameserver 127.0.0.1#1\noptions timeout:1 attempts:1\n");
        _ = PublishedBinary.Path;
    }

    [OneTimeTearDown]
    public void RemoveHome() => _home.Dispose();

    private Process Start(int port, string messageFile, string extra = "")
    {
        var info = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // exec: the shell becomes the binary, so the pid is the binary's (for kill -TERM).
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"exec \"$0\" --qmail-home=\"$1\" --resolv-conf=\"$1/resolv.conf\" --smtp-port={port} [127.0.0.6] s@qremote.test r@example.test <\"$2\" 2>&1 {extra}");
        info.ArgumentList.Add(PublishedBinary.Path);
        info.ArgumentList.Add(_home.Path);
        info.ArgumentList.Add(messageFile);
        return Process.Start(info)!;
    }

    private string MessageFile(string text)
    {
        var path = Path.Combine(_home.Path, $"message-{Guid.NewGuid():N}");
        File.WriteAllText(path, text);
        return path;
    }

    [Test]
    public void Sigterm_after_the_final_dot_is_Z_possible_duplicate_and_exit_0()
    {
        var dotSeen = new ManualResetEventSlim();
        using var server = new ScriptedSmtpServer(Address, 0, async s =>
        {
            await s.SendAsync("220 scripted\r\n");
            await s.ReadLineAsync();
            await s.SendAsync("250 scripted\r\n");
            string? line;
            while ((line = await s.ReadLineAsync()) is not null)
            {
                if (line.StartsWith("DATA", StringComparison.Ordinal))
                {
                    await s.SendAsync("354 go\r\n");
                    await s.ReadDataAsync();
                    dotSeen.Set();
                    await Task.Delay(Timeout.Infinite, s.Stop); // never answer the message
                }

                await s.SendAsync("250 ok\r\n");
            }
        });
        using var process = Start(server.EndPoint.Port, MessageFile("Subject: x\n\nbody\n"));
        Assert.That(dotSeen.Wait(TimeSpan.FromSeconds(20)), "the server saw the final dot");
        ExternalProcess.Run("/bin/kill", "-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(process.WaitForExit(10_000), "exited after SIGTERM");
        Assert.That(process.ExitCode, Is.Zero);
        Assert.That(process.StandardOutput.ReadToEnd().Replace("\0", "\\0", StringComparison.Ordinal),
            Is.EqualTo("r\\0ZConnected to 127.0.0.6 but connection died. Possible duplicate! (#4.4.2)\n\\0"));
    }

    [Test]
    public void Sigterm_while_waiting_for_the_greeting_is_Z_and_exit_0()
    {
        var connected = new ManualResetEventSlim();
        using var server = new ScriptedSmtpServer(Address, 0, async s =>
        {
            connected.Set();
            await Task.Delay(Timeout.Infinite, s.Stop);
        });
        using var process = Start(server.EndPoint.Port, MessageFile("Subject: x\n\nbody\n"));
        Assert.That(connected.Wait(TimeSpan.FromSeconds(20)), "connected");
        ExternalProcess.Run("/bin/kill", "-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(process.WaitForExit(10_000), "exited after SIGTERM");
        Assert.That(process.ExitCode, Is.Zero);
        var report = process.StandardOutput.ReadToEnd();
        Assert.That(report, Does.StartWith("Z").And.EndWith("\0"));
        Assert.That(report.Count(c => c == '\0'), Is.EqualTo(1));
    }

    [Test]
    public void A_starttls_delivery_never_opens_the_system_trust_store()
    {
        // SystemTrust: .NET would read every file under /etc/ssl/certs on each handshake (55 to 60 ms of a
        // 68 ms delivery); an opportunistic handshake uses no trust store at all.
        using var ca = new TestCa();
        var dir = ca.Directory;
        var issued = ca.Issue("mx", "mx.qremote.test");
        var cert = issued.CertificateFile;
        var key = issued.KeyFile;
        using var postfix = PostfixServer.StartOn(Address, FreePort.Tcp(Address),
            ("smtpd_tls_security_level", "may"), ("smtpd_tls_cert_file", cert), ("smtpd_tls_key_file", key), ("smtpd_tls_loglevel", "1"));
        var trace = Path.Combine(dir, "strace");
        var output = ExternalProcess.RunToEnd("/usr/bin/strace",
            ["-f", "-qq", "-e", "trace=open,openat,stat,newfstatat,statx", "-o", trace, PublishedBinary.Path,
             $"--qmail-home={_home.Path}", $"--resolv-conf={_home.Path}/resolv.conf", $"--smtp-port={postfix.EndPoint.Port}", "[127.0.0.6]", "s@qremote.test", "r@example.test"],
            new() { Input = System.Text.Encoding.UTF8.GetBytes("Subject: trust\n\nbody\n"), Timeout = TimeSpan.FromSeconds(20) }).Text;
        postfix.WaitForLog("TLS connection established");
        var opened = File.ReadAllLines(trace).Where(l => l.Contains("/etc/ssl/certs", StringComparison.Ordinal) || l.Contains("/usr/lib/ssl/certs", StringComparison.Ordinal)).ToList();
        Assert.That(output, Does.StartWith("r\0K127.0.0.6 accepted message."));
        Assert.That(opened, Is.Empty, "files of the system trust store opened during an opportunistic STARTTLS delivery");
    }

    [Test]
    public void A_closed_stdout_means_no_delivery_and_exit_0()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        var message = MessageFile("Subject: x\n\nbody\n");
        using (var open = Start(sink.EndPoint.Port, message))
        {
            Assert.That(open.WaitForExit(20_000));
            Assert.That(open.StandardOutput.ReadToEnd(), Does.StartWith("r\0K"), "the same delivery with stdout open goes through");
        }

        WaitFor.Condition(() => sink.Dumps().Count == 1, "the first delivery's dump");
        using var closed = Start(sink.EndPoint.Port, message, ">&-");
        Assert.That(closed.WaitForExit(20_000));
        Assert.That(closed.ExitCode, Is.Zero);
        Thread.Sleep(300);
        Assert.That(sink.Dumps(), Has.Count.EqualTo(1), "nothing delivered when nobody can hear the outcome");
    }

    [Test]
    public void A_reader_that_goes_away_is_a_broken_pipe_and_still_exit_0()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        var run = ExternalProcess.RunToEnd("/bin/bash",
            ["-c", $"\"$0\" --qmail-home=\"$1\" --resolv-conf=\"$1/resolv.conf\" --smtp-port={sink.EndPoint.Port} [127.0.0.6] s@qremote.test r@example.test <\"$2\" | (exec 0<&-); echo \"exit ${{PIPESTATUS[0]}}\"",
             PublishedBinary.Path, _home.Path, MessageFile("Subject: x\n\nbody\n")],
            new() { Timeout = TimeSpan.FromSeconds(20) });
        Assert.That(run.Text, Is.EqualTo("exit 0\n"), "EPIPE on the report is not a crash");
    }

    [Test]
    public void A_symlink_at_the_log_path_is_not_written_through_and_the_delivery_is_the_same()
    {
        using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
        var victim = Path.Combine(_home.Path, "victim");
        File.WriteAllText(victim, "precious\n");
        var log = Path.Combine(_home.Path, "deliveries.json");
        File.CreateSymbolicLink(log, victim);
        var control = _home.Control("qremote-log");
        File.WriteAllText(control, log + "\n");
        try
        {
            string Deliver()
            {
                using var process = Start(sink.EndPoint.Port, MessageFile("Subject: x\n\nbody\n"));
                var output = process.StandardOutput.ReadToEnd();
                Assert.That(process.WaitForExit(20_000));
                Assert.That(process.ExitCode, Is.Zero);
                return output;
            }

            Assert.That(Deliver(), Does.StartWith("r\0K127.0.0.6 accepted message."));
            Assert.That(File.ReadAllText(victim), Is.EqualTo("precious\n"));
            File.Delete(log);
            Assert.That(Deliver(), Does.StartWith("r\0K127.0.0.6 accepted message."));
            Assert.That(File.ReadAllLines(log), Has.Length.EqualTo(1), "with a plain file at the path, the delivery is logged");
        }
        finally
        {
            File.Delete(control);
            File.Delete(log);
            File.Delete(victim);
        }
    }

    [Test]
    public void A_piped_message_is_spooled_to_a_file_without_a_name_so_a_kill_leaves_nothing_in_tmpdir()
    {
        var tmp = Directory.CreateTempSubdirectory("qremote-spool-").FullName;
        var info = new ProcessStartInfo("/bin/sh") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("TMPDIR=\"$1\" exec \"$0\" --qmail-home=\"$2\" --resolv-conf=\"$2/resolv.conf\" --smtp-port=1 [127.0.0.6] s@qremote.test r@example.test 2>&1");
        info.ArgumentList.Add(PublishedBinary.Path);
        info.ArgumentList.Add(tmp);
        info.ArgumentList.Add(_home.Path);
        using var process = Process.Start(info)!;
        try
        {
            // Half a message, and the pipe left open: qremote is in the middle of spooling it.
            process.StandardInput.Write("Subject: slow\n\nthe first half\n");
            process.StandardInput.Flush();
            string? Spool() => Directory.GetFiles($"/proc/{process.Id}/fd")
                .Select(f => { try { return File.ResolveLinkTarget(f, false)?.FullName; } catch (IOException) { return null; } })
                .FirstOrDefault(t => t is not null && t.StartsWith(tmp + "/", StringComparison.Ordinal));
            WaitFor.Condition(() => Spool() is not null, "qremote's spool open in TMPDIR");
            TestContext.Out.WriteLine($"spool: {Spool()}");
            Assert.That(Directory.GetFileSystemEntries(tmp), Is.Empty, "while spooling, the spool has no name");

            ExternalProcess.Run("/bin/kill", "-KILL", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.That(process.WaitForExit(20_000));
            Assert.That(Directory.GetFileSystemEntries(tmp), Is.Empty, "killed while spooling: nothing left behind");
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }

            Directory.Delete(tmp, recursive: true);
        }
    }

    [Test]
    public void A_full_tmpdir_for_a_piped_message_is_Z_unable_to_read_message()
    {
        if (Environment.UserName != "root")
        {
            Assert.Ignore("mounting a small tmpfs needs root");
        }

        var mount = Directory.CreateTempSubdirectory("qremote-tinytmp-").FullName;
        var big = MessageFile("Subject: big\n\n" + string.Concat(Enumerable.Repeat(new string('x', 1000) + "\n", 200)));
        var run = ExternalProcess.RunToEnd("/usr/bin/unshare",
            ["-m", "/bin/sh", "-c",
             "mount -t tmpfs -o size=16k tmpfs \"$1\" && cat \"$2\" | TMPDIR=\"$1\" \"$0\" --qmail-home=\"$3\" --resolv-conf=\"$3/resolv.conf\" --smtp-port=1 [127.0.0.6] s@qremote.test r@example.test 2>&1",
             PublishedBinary.Path, mount, big, _home.Path],
            new() { Timeout = TimeSpan.FromSeconds(20) });
        Directory.Delete(mount);
        Assert.That(run.ExitCode, Is.Zero, run.Errors);
        Assert.That(run.Shown, Is.EqualTo("ZUnable to read message. (#4.3.0)\n\\0"));
    }
}
