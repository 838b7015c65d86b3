using System.Text;
using QRemote.Posix;
using QRemote.Qmail;

namespace QRemote.HandOver;

/// <summary>The one write of the daemon's report, as qremote writes it: qmail's bytes into a pipe, one readable line
/// per report on a terminal. write(2) on descriptor 1, not <see cref="Console"/>: the console's set-up is most of
/// what this small program would otherwise run.</summary>
internal static unsafe partial class ReportOutput
{
    public static void Write(DeliveryReport report, IReadOnlyList<string> positional)
    {
        var bytes = IsTerminal(1)
            ? Encoding.UTF8.GetBytes(ReportWriter.FormatForTerminal(report, positional.Count >= 3 ? positional.Skip(2).ToList() : []))
            : ReportWriter.Format(report);
        fixed (byte* start = bytes)
        {
            var written = 0;
            while (written < bytes.Length)
            {
                var n = Libc.Write(1, start + written, bytes.Length - written);
                if (n < 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() == Libc.Eintr)
                {
                    continue;
                }

                if (n <= 0)
                {
                    // stdout is gone (qmail-rspawn died): nobody is left to tell, and exit 0 stands.
                    return;
                }

                written += (int)n;
            }
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "isatty")]
    private static partial int IsAtty(int fd);

    private static bool IsTerminal(int fd) => IsAtty(fd) == 1;
}
