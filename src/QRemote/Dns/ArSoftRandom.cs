using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using ARSoft.Tools.Net.Dns;
using Org.BouncyCastle.Crypto.Prng;
using Org.BouncyCastle.Security;
using QRemote.Posix;

namespace QRemote.Dns;

/// <summary>
/// ARSoft draws a transaction ID for every <see cref="DnsMessage"/> it makes, parsed answers included, from a static
/// BouncyCastle <see cref="SecureRandom"/> over .NET's <see cref="RandomNumberGenerator"/>, which on Linux is OpenSSL's:
/// the first answer parsed loaded libssl and libcrypto and read openssl.cnf in every MX delivery, TLS or not (strace -k;
/// docs/performance.md). That one generator is swapped for the kernel's (getrandom(2)) before ARSoft is used. The IDs
/// it draws are overwritten by parsing anyway; queries carry <see cref="DnsTransport.NewId"/>.
/// </summary>
internal static class ArSoftRandom
{
    private static int Installed;

    /// <summary>Puts the kernel's generator in ARSoft's place, once per process.</summary>
    public static void Install()
    {
        if (Interlocked.Exchange(ref Installed, 1) == 0)
        {
            try
            {
                // The static's initializer only constructs BouncyCastle's wrapper; OpenSSL starts at its first draw.
                IdSource(null) = new SecureRandom(new KernelRandomGenerator());
            }
            catch (MissingFieldException)
            {
                // Another ARSoft release without this private field: its own generator stays. A start-up saving
                // must never change a delivery's outcome.
            }
        }
    }

    [UnsafeAccessor(UnsafeAccessorKind.StaticField, Name = "_secureRandom")]
    private static extern ref SecureRandom IdSource(DnsMessageBase? message);

    /// <summary>getrandom(2) as BouncyCastle's generator; seed material is not needed by the kernel's pool.</summary>
    private sealed class KernelRandomGenerator : IRandomGenerator
    {
        public void AddSeedMaterial(byte[] seed)
        {
        }

        public void AddSeedMaterial(ReadOnlySpan<byte> seed)
        {
        }

        public void AddSeedMaterial(long seed)
        {
        }

        public void NextBytes(byte[] bytes) => NextBytes(bytes.AsSpan());

        public void NextBytes(byte[] bytes, int start, int len) => NextBytes(bytes.AsSpan(start, len));

        public unsafe void NextBytes(Span<byte> bytes)
        {
            fixed (byte* buffer = bytes)
            {
                var filled = 0;
                while (filled < bytes.Length)
                {
                    var n = Libc.GetRandom(buffer + filled, (nuint)(bytes.Length - filled), 0);
                    if (n <= 0)
                    {
                        // An old kernel or a seccomp filter: the slower source, never a predictable one.
                        RandomNumberGenerator.Fill(bytes[filled..]);
                        return;
                    }

                    filled += (int)n;
                }
            }
        }
    }
}
