using System.Text.Json;
using QRemote.Logging;
using Serilog.Events;
using Serilog.Formatting.Compact;
using Serilog.Parsing;

namespace QRemote.Tests;

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
