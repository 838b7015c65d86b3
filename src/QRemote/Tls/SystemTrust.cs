using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using QRemote.Posix;

namespace QRemote.Tls;

/// <summary>
/// The system's WebPKI trust store, kept away from every handshake that does not use it.
/// <para>Why: on Linux, .NET loads the whole system store (every file under <c>/etc/ssl/certs</c>,
/// 147 opens here) the first time it builds a certificate chain, and it builds one for every TLS
/// handshake, even with <see cref="X509ChainTrustMode.CustomRootTrust"/> and even when the
/// validation callback accepts anything. That cost 55 to 60 ms of a 68 ms STARTTLS delivery
/// (<c>bench/tls-delivery.sh</c>). QRemote's handshakes trust a CA file (control/tlshosts), TLSA
/// records (DANE) or nothing (opportunistic): only an MTA-STS policy needs WebPKI roots, and it
/// gets them from <see cref="LoadRoots"/> as a custom root store.</para>
/// <para>.NET's native crypto shim finds the store through OpenSSL's <c>SSL_CERT_FILE</c> and
/// <c>SSL_CERT_DIR</c> in the native environment, read when the store is first loaded. <see cref="Hide"/>
/// points both at nothing, in the process's native environment (the managed
/// <c>Environment.SetEnvironmentVariable</c> does not reach <c>getenv</c>), first thing in Main,
/// before any thread could read them. The original values are kept to find the bundle.</para>
/// </summary>
internal static class SystemTrust
{
    /// <summary>Debian's (and OpenSSL's usual) bundle of every trusted root.</summary>
    public const string DefaultBundle = "/etc/ssl/certs/ca-certificates.crt";

    private const string Nowhere = "/nonexistent/qremote-no-system-trust";

    /// <summary>The PEM bundle of WebPKI roots: <c>SSL_CERT_FILE</c> as the process found it, else <see cref="DefaultBundle"/>.</summary>
    public static string BundlePath { get; private set; } = Environment.GetEnvironmentVariable("SSL_CERT_FILE") is { Length: > 0 } file ? file : DefaultBundle;

    /// <summary>Whether <see cref="Hide"/> has run in this process.</summary>
    public static bool Hidden { get; private set; }

    /// <summary>Points .NET's system store at nothing for the rest of this process. Call before any TLS.</summary>
    public static void Hide()
    {
        if (Hidden)
        {
            return;
        }

        BundlePath = Environment.GetEnvironmentVariable("SSL_CERT_FILE") is { Length: > 0 } file ? file : DefaultBundle;
        // A failure leaves the slow path, never a wrong one: nothing here decides what is trusted.
        Hidden = Libc.SetEnv("SSL_CERT_FILE", Nowhere, 1) == 0 & Libc.SetEnv("SSL_CERT_DIR", Nowhere, 1) == 0;
    }

    /// <summary>The WebPKI roots, read from <see cref="BundlePath"/> now (a few milliseconds; MTA-STS only).
    /// Empty when the bundle cannot be read: then nothing verifies, and a policy needing it defers.</summary>
    public static X509Certificate2Collection LoadRoots(string? path = null)
    {
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(path ?? BundlePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
        {
        }

        return roots;
    }
}
