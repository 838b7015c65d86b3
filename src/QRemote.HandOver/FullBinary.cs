using System.Runtime.InteropServices;
using QRemote.Qmail;

namespace QRemote.HandOver;

/// <summary>
/// qremote, the full program, run in this process's place (execve(2)): from this binary's own directory, with argv
/// exactly as the kernel gave it to this process (its argv[0], so the same program name and role; bytes that are not
/// UTF-8 unchanged), the same environment and standard input at the offset it had when this process started.
/// </summary>
internal static unsafe partial class FullBinary
{
    public const string Name = "qremote";

    private static long StandardInputAtStart = -1;

    /// <summary>Where standard input is now (a regular file's offset; -1 for a pipe or a terminal), to put it back there
    /// before the exec whatever the hand-over's code did with it.</summary>
    public static void RememberStandardInput() => StandardInputAtStart = LSeek(0, 0, SeekCur);

    /// <summary>Returns only when qremote could not be run: then the report is a plain Z (qmail tries again).</summary>
    /// <param name="handOverTried">The hand-over was attempted and not used: qremote is told so
    /// (<see cref="Daemon.HandOver.TriedVariable"/>) and delivers by itself at once, as it would after its own attempt.</param>
    public static int Exec(bool handOverTried)
    {
        if (StandardInputAtStart >= 0 && LSeek(0, StandardInputAtStart, SeekSet) != StandardInputAtStart)
        {
            return Failed();
        }

        var self = ReadLink("/proc/self/exe");
        var arguments = ReadProc("/proc/self/cmdline");
        var environment = ReadProc("/proc/self/environ");
        if (self is null || arguments is null || environment is null)
        {
            return Failed();
        }

        var directory = self.AsSpan(0, self.AsSpan().LastIndexOf((byte)'/') + 1);
        byte[] path = [.. directory, .. System.Text.Encoding.UTF8.GetBytes(Name), 0];
        if (handOverTried && Environment.GetEnvironmentVariable(Daemon.HandOver.TriedVariable) is null)
        {
            environment = [.. environment, .. System.Text.Encoding.UTF8.GetBytes($"{Daemon.HandOver.TriedVariable}=1"), 0];
        }

        fixed (byte* pathBytes = path)
        fixed (byte* argumentBytes = arguments)
        fixed (byte* environmentBytes = environment)
        {
            var argv = Pointers(argumentBytes, arguments.Length);
            var envp = Pointers(environmentBytes, environment.Length);
            try
            {
                _ = Execve(pathBytes, argv, envp);
            }
            finally
            {
                NativeMemory.Free(argv);
                NativeMemory.Free(envp);
            }
        }

        return Failed();
    }

    private static int Failed()
    {
        ReportOutput.Write(Reports.UnexpectedFailure(), []);
        return 0;
    }

    /// <summary>A NULL-terminated array of pointers to the NUL-terminated strings packed in a /proc list.</summary>
    private static byte** Pointers(byte* list, int length)
    {
        var count = 0;
        for (var i = 0; i < length; i++)
        {
            count += list[i] == 0 ? 1 : 0;
        }

        var pointers = (byte**)NativeMemory.Alloc((nuint)(count + 1), (nuint)sizeof(byte*));
        var n = 0;
        for (var start = 0; start < length && n < count;)
        {
            pointers[n++] = list + start;
            while (list[start] != 0)
            {
                start++;
            }

            start++;
        }

        pointers[n] = null;
        return pointers;
    }

    /// <summary>A whole /proc file (NUL-separated strings, each NUL-terminated); null when it cannot be read.</summary>
    private static byte[]? ReadProc(string path)
    {
        var fd = Posix.Libc.Open(path, Posix.Libc.ORdonly | Posix.Libc.OCloexec, 0);
        if (fd < 0)
        {
            return null;
        }

        try
        {
            var buffer = new byte[4096];
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                }

                nint n;
                fixed (byte* at = &buffer[length])
                {
                    n = Read(fd, at, buffer.Length - length);
                }

                if (n < 0 && Marshal.GetLastPInvokeError() == Posix.Libc.Eintr)
                {
                    continue;
                }

                if (n < 0)
                {
                    return null;
                }

                if (n == 0)
                {
                    return length > 0 && buffer[length - 1] != 0 ? [.. buffer.AsSpan(0, length), 0] : buffer[..length];
                }

                length += (int)n;
            }
        }
        finally
        {
            _ = Posix.Libc.Close(fd);
        }
    }

    private static byte[]? ReadLink(string path)
    {
        var buffer = new byte[4096];
        fixed (byte* at = buffer)
        {
            var n = ReadLinkNative(path, at, buffer.Length);
            return n > 0 && n < buffer.Length ? buffer[..(int)n] : null;
        }
    }

    private const int SeekSet = 0;
    private const int SeekCur = 1;

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long LSeek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "readlink", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial nint ReadLinkNative(string path, byte* buffer, nint size);

    [LibraryImport("libc", EntryPoint = "execve", SetLastError = true)]
    private static partial int Execve(byte* path, byte** argv, byte** envp);
}
