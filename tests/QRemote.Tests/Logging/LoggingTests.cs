using System.Text.Json;
using QRemote.Logging;
using Serilog.Events;
using Serilog.Formatting.Compact;
using Serilog.Parsing;

namespace QRemote.Tests.Logging;

public sealed class LoggingTests
{
    [Test]
    public void Many_writers_appending_at_once_lose_and_garble_nothing()
    {
        var path = Path.Combine(Path.GetTempPath(), $"qremote-log-{Guid.NewGuid():N}.json");
        const int writers = 16, events = 250;
        var template = new MessageTemplateParser().Parse("{Writer} {Index} {Padding}");
        try
        {
            Parallel.For(0, writers, new ParallelOptions { MaxDegreeOfParallelism = writers }, w =>
            {
                // Each writer opens the file itself, as each qremote process does.
                using var sink = new AppendFileSink(path, new CompactJsonFormatter());
                for (var i = 0; i < events; i++)
                {
                    sink.Emit(new LogEvent(DateTimeOffset.Now, LogEventLevel.Information, null, template,
                        [new("Writer", new ScalarValue(w)), new("Index", new ScalarValue(i)), new("Padding", new ScalarValue(new string('x', 3000)))]));
                }
            });

            var lines = File.ReadAllLines(path);
            Assert.That(lines, Has.Length.EqualTo(writers * events));
            var seen = lines.Select(l => JsonDocument.Parse(l).RootElement).Select(e => (e.GetProperty("Writer").GetInt32(), e.GetProperty("Index").GetInt32())).ToHashSet();
            Assert.That(seen, Has.Count.EqualTo(writers * events));
            Assert.That(Convert.ToString((int)File.GetUnixFileMode(path), 8), Is.EqualTo("640"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void An_unopenable_log_is_silently_dropped()
    {
        using var sink = new AppendFileSink("/nonexistent-directory/qremote.log", new CompactJsonFormatter());
        Assert.That(sink.IsOpen, Is.False);
        Assert.DoesNotThrow(() => sink.Emit(new LogEvent(DateTimeOffset.Now, LogEventLevel.Information, null, new MessageTemplateParser().Parse("x"), [])));
    }

    [Test]
    public void A_link_or_a_fifo_planted_at_the_log_path_is_never_written_through()
    {
        // The log's directory may be writable by qmailr; qremote run by hand as root must not append to whatever a
        // link there points at (O_NOFOLLOW for a symbolic link; one name only, for a hard link), nor hang on a FIFO.
        var dir = Directory.CreateTempSubdirectory("qremote-logdir-").FullName;
        var template = new MessageTemplateParser().Parse("x");
        try
        {
            var victim = Path.Combine(dir, "victim");
            File.WriteAllText(victim, "precious\n");
            var symbolic = Path.Combine(dir, "symbolic.json");
            File.CreateSymbolicLink(symbolic, victim);
            var hard = Path.Combine(dir, "hard.json");
            Infrastructure.ExternalProcess.Run("/bin/ln", victim, hard);
            var fifo = Path.Combine(dir, "fifo.json");
            Infrastructure.ExternalProcess.Run("/usr/bin/mkfifo", fifo);

            foreach (var path in new[] { symbolic, hard })
            {
                using var sink = new AppendFileSink(path, new CompactJsonFormatter());
                sink.Emit(new LogEvent(DateTimeOffset.Now, LogEventLevel.Information, null, template, []));
                Assert.That(sink.IsOpen, Is.False, path);
            }

            Assert.That(File.ReadAllText(victim), Is.EqualTo("precious\n"));
            // A FIFO with no reader: opening it for writing would wait for one for ever.
            var opened = Task.Run(() =>
            {
                using var sink = new AppendFileSink(fifo, new CompactJsonFormatter());
                return sink.IsOpen;
            });
            Assert.That(opened.Wait(TimeSpan.FromSeconds(30)), Is.True, "open(2) of a FIFO returned");
            Assert.That(opened.Result, Is.False);

            // The same directory, a plain path: logged (so the refusals above are not a sink that never opens).
            var plain = Path.Combine(dir, "plain.json");
            using (var sink = new AppendFileSink(plain, new CompactJsonFormatter()))
            {
                sink.Emit(new LogEvent(DateTimeOffset.Now, LogEventLevel.Information, null, template, []));
                Assert.That(sink.IsOpen, Is.True);
            }

            Assert.That(File.ReadAllLines(plain), Has.Length.EqualTo(1));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Settings_come_from_control_qremote_log()
    {
        var dir = Directory.CreateTempSubdirectory("qremote-control-").FullName;
        try
        {
            var control = new QRemote.Qmail.ControlFiles(dir);
            Assert.That(LogSettings.Load(control), Is.Null);
            File.WriteAllText(Path.Combine(dir, "qremote-log"), "/var/log/qremote/deliveries.json\n");
            Assert.That(LogSettings.Load(control), Is.EqualTo(new LogSettings("/var/log/qremote/deliveries.json", LogEventLevel.Information)));
            File.WriteAllText(Path.Combine(dir, "qremote-log"), "/tmp/q.json debug\n");
            Assert.That(LogSettings.Load(control), Is.EqualTo(new LogSettings("/tmp/q.json", LogEventLevel.Debug)));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
