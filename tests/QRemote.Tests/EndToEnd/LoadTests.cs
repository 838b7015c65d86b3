using System.Collections.Concurrent;
using System.Net;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.EndToEnd;

/// <summary>
/// Many deliveries at once through the published binary: every report well formed, counts exact,
/// nothing lost. (The full 1,000 at 50 in parallel is <c>bench/load.sh</c>; this is its smaller twin.)
/// </summary>
[NonParallelizable]
public sealed class LoadTests
{
    private const int Deliveries = 200;
    private const int Parallel = 20;
    private static readonly IPAddress Address = IPAddress.Parse("127.0.0.7");

    private static string RunOne(string home, int port, string message, string recipient)
    {
        // stdin: the message file, as qmail-rspawn gives it.
        var run = ExternalProcess.RunToEnd(PublishedBinary.Path, [$"--qmail-home={home}", $"--smtp-port={port}", "[127.0.0.7]", "s@qremote.test", recipient],
            new() { Input = File.ReadAllBytes(message), Timeout = TimeSpan.FromMinutes(5) });
        Assert.That(run.ExitCode, Is.Zero);
        return run.Text;
    }

    private static (TempQmailHome Home, string Message) World()
    {
        var home = TempQmailHome.Create();
        var message = Path.Combine(home.Path, "message");
        File.WriteAllText(message, "Subject: load\n\n" + string.Concat(Enumerable.Repeat("line of the load test message\n", 30)));
        return (home, message);
    }

    private static IReadOnlyDictionary<int, string> RunAll(string home, string message, int port)
    {
        var reports = new ConcurrentDictionary<int, string>();
        System.Threading.Tasks.Parallel.For(0, Deliveries, new ParallelOptions { MaxDegreeOfParallelism = Parallel },
            i => reports[i] = RunOne(home, port, message, $"rcpt{i}@example.test"));
        return reports;
    }

    [Test]
    public void Two_hundred_deliveries_twenty_at_a_time_to_smtp_sink()
    {
        var (home, message) = World();
        try
        {
            using var sink = SmtpSink.StartOn(Address, FreePort.Tcp(Address));
            var reports = RunAll(home.Path, message, sink.EndPoint.Port);
            Assert.That(reports.Values, Has.All.EqualTo("r\0K127.0.0.7 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\0"));
            WaitFor.Condition(() => sink.Dumps().Count == Deliveries, $"{Deliveries} dumps");
            var received = sink.Dumps().Select(d => d.Split('\n').First(l => l.StartsWith("X-Rcpt-Args: ", StringComparison.Ordinal))).ToHashSet();
            Assert.That(received, Has.Count.EqualTo(Deliveries), "each message exactly once");
        }
        finally
        {
            home.Dispose();
        }
    }

    [Test]
    public void A_server_refusing_a_tenth_of_recipients_gets_exact_counts()
    {
        var (home, message) = World();
        var accepted = new ConcurrentBag<string>();
        // Seeded: recipient i is refused when the seeded sequence says so, the same on every run.
        var refuse = new Random(5).GetItems([true, false, false, false, false, false, false, false, false, false], Deliveries);
        try
        {
            using var server = new ScriptedSmtpServer(Address, 0, async s =>
            {
                await s.SendAsync("220 scripted\r\n");
                string? line;
                string? rcpt = null;
                while ((line = await s.ReadLineAsync()) is not null)
                {
                    if (line.StartsWith("EHLO", StringComparison.Ordinal))
                    {
                        await s.SendAsync("250-scripted\r\n250 PIPELINING\r\n");
                    }
                    else if (line.StartsWith("RCPT", StringComparison.Ordinal))
                    {
                        rcpt = line;
                        var i = int.Parse(line["RCPT TO:<rcpt".Length..line.IndexOf('@', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
                        await s.SendAsync(refuse[i] ? "550 5.1.1 no such user\r\n" : "250 ok\r\n");
                    }
                    else if (line == "DATA")
                    {
                        // 354 even after refusing the only recipient (RFC 2920 says no): QRemote, which pipelined DATA,
                        // must not send a message then; it closes the connection instead.
                        await s.SendAsync("354 go\r\n");
                        if (await s.ReadDataAsync())
                        {
                            accepted.Add(rcpt!);
                            await s.SendAsync("250 2.0.0 queued\r\n");
                        }
                    }
                    else if (line == "QUIT")
                    {
                        return;
                    }
                    else
                    {
                        await s.SendAsync("250 ok\r\n");
                    }
                }
            });
            var reports = RunAll(home.Path, message, server.EndPoint.Port);
            var refused = Enumerable.Range(0, Deliveries).Where(i => refuse[i]).ToHashSet();
            Assert.That(refused.Count, Is.InRange(5, 40), "the seed refuses some but not most");
            foreach (var (i, report) in reports)
            {
                Assert.That(report, Is.EqualTo(refused.Contains(i)
                    ? "h127.0.0.7 does not like recipient.\nRemote host said: 550 5.1.1 no such user\n\0DGiving up on 127.0.0.7.\n\0"
                    : "r\0K127.0.0.7 accepted message.\nRemote host said: 250 2.0.0 queued\nTLS: none offered\n\0"), $"delivery {i}");
            }

            Assert.That(accepted, Has.Count.EqualTo(Deliveries - refused.Count));
            Assert.That(accepted.Distinct().Count(), Is.EqualTo(accepted.Count), "no message twice");
        }
        finally
        {
            home.Dispose();
        }
    }
}
