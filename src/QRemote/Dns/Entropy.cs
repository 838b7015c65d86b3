using System.Security.Cryptography;
using QRemote.Posix;

namespace QRemote.Dns;

/// <summary>
/// Unpredictable bytes for DNS query IDs straight from the kernel (getrandom(2)). .NET's
/// <see cref="RandomNumberGenerator"/> is OpenSSL's on Linux: asking it for two bytes loaded libssl and
/// libcrypto into every delivery, TLS or not (seen with strace; part of the DNS path's start-up cost).
/// </summary>
internal static class Entropy
{
    public static unsafe ushort NextUInt16()
    {
        ushort value;
        if (Libc.GetRandom(&value, sizeof(ushort), 0) == sizeof(ushort))
        {
            return value;
        }

        // An old kernel or a seccomp filter: the slower source, never a predictable one.
        return (ushort)RandomNumberGenerator.GetInt32(0, 65536);
    }
}
