using System.Text;
using QRemote.Posix;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace QRemote.Logging;

/// <summary>
/// A Serilog sink for many processes writing one file at once: the file is opened with
/// <c>O_APPEND</c> and every event goes out in a single <c>write(2)</c>, which the kernel appends
/// whole. Measured before this was written: Serilog's File sink lost lines under 40 concurrent
/// writers (2,606 of 8,000 arrived; with <c>shared: true</c>, 6,374 and 428 garbled), and so does
/// .NET's <c>FileMode.Append</c>, which seeks instead of appending.
/// The path is opened without following a symbolic link and kept only as a regular file with one name
/// (<see cref="Libc.OpenRegularNoFollow"/>): the log's directory may be writable by qmailr, and qremote run by
/// hand as root must not append to whatever a link planted there points at.
/// A failure to open or write is swallowed: logging never changes a delivery's outcome.
/// </summary>
internal sealed class AppendFileSink : ILogEventSink, IDisposable
{
    private readonly ITextFormatter _formatter;
    private readonly int _fd;

    public AppendFileSink(string path, ITextFormatter formatter)
    {
        _formatter = formatter ?? throw new ArgumentNullException(nameof(formatter));
        _fd = OpenForAppend(path);
    }

    /// <summary>Opens <paramref name="path"/> as this sink does: O_APPEND, no link followed, a lone regular file, created 0640.
    /// -1 when it cannot be.</summary>
    public static int OpenForAppend(string path) => Libc.OpenRegularNoFollow(path, Libc.OWronly | Libc.OCreat | Libc.OAppend, Libc.Mode0640);

    /// <summary>Appends <paramref name="line"/> to <paramref name="path"/> in one write(2), with the sink's safety (the TLS
    /// report spool's writers). False when the file could not be opened or the write was short.</summary>
    public static unsafe bool AppendLine(string path, byte[] line)
    {
        var fd = OpenForAppend(path);
        if (fd < 0)
        {
            return false;
        }

        try
        {
            fixed (byte* p = line)
            {
                return Libc.Write(fd, p, line.Length) == line.Length;
            }
        }
        finally
        {
            _ = Libc.Close(fd);
        }
    }

    /// <summary>False when the file could not be opened (events are then dropped).</summary>
    public bool IsOpen => _fd >= 0;

    public void Emit(LogEvent logEvent)
    {
        if (_fd < 0)
        {
            return;
        }

        try
        {
            using var text = new StringWriter(System.Globalization.CultureInfo.InvariantCulture);
            _formatter.Format(logEvent, text);
            var bytes = Encoding.UTF8.GetBytes(text.ToString());
            WriteAll(bytes);
        }
#pragma warning disable CA1031 // Logging never changes an outcome: any failure here is dropped.
        catch (Exception)
        {
        }
#pragma warning restore CA1031
    }

    public void Dispose()
    {
        if (_fd >= 0)
        {
            _ = Libc.Close(_fd);
        }
    }

    private unsafe void WriteAll(byte[] bytes)
    {
        fixed (byte* p = bytes)
        {
            // One write(2) for the whole event; a short write (a full disk) is not retried, so a
            // partial line is never followed by the rest at some other writer's offset.
            _ = Libc.Write(_fd, p, bytes.Length);
        }
    }
}
