using System.Text;

namespace QRemote.Qmail;

/// <summary>
/// Whether argv as the kernel holds it is valid UTF-8. .NET decodes argv as UTF-8 and puts U+FFFD where a byte
/// sequence is not: a different address would go out (with SMTPUTF8, even). qmail passes bytes; we cannot carry
/// a byte string through MailKit unchanged, so such a delivery is deferred instead (never substituted).
/// </summary>
internal static class RawArguments
{
    /// <summary>False when some argument holds bytes that are not UTF-8. Reads /proc/self/cmdline only when an
    /// argument holds U+FFFD (which a valid argument may hold too: EF BF BD), so a normal start costs nothing.</summary>
    public static bool AreUtf8(IReadOnlyList<string> args, Func<byte[]?> readCommandLine)
    {
        if (!args.Any(a => a.Contains('\uFFFD', StringComparison.Ordinal)))
        {
            return true;
        }

        var raw = readCommandLine();
        if (raw is null)
        {
            // Cannot tell: the substitution may be real. Refusing is the safe side.
            return false;
        }

        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        foreach (var part in raw.AsSpan().TrimEnd((byte)0).ToArray().Split0())
        {
            try
            {
                _ = strict.GetCharCount(part);
            }
            catch (DecoderFallbackException)
            {
                return false;
            }
        }

        return true;
    }

    public static byte[]? ReadProcCommandLine()
    {
        try
        {
            return File.ReadAllBytes("/proc/self/cmdline");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static IEnumerable<byte[]> Split0(this byte[] bytes)
    {
        var start = 0;
        for (var i = 0; i <= bytes.Length; i++)
        {
            if (i == bytes.Length || bytes[i] == 0)
            {
                yield return bytes[start..i];
                start = i + 1;
            }
        }
    }
}
