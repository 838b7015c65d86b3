using System.Net.Security;
using System.Runtime.InteropServices;

namespace QRemote.Tls;

/// <summary>
/// <c>control/tlsclientciphers</c> holds an OpenSSL cipher list (<c>HIGH:!aNULL:!MD5</c>, names, keywords,
/// <c>@STRENGTH</c>), as qmail's TLS patch passes it to <c>SSL_CTX_set_cipher_list</c>. .NET takes only a list of
/// IANA suites (<see cref="CipherSuitesPolicy"/>), so the expression is expanded by the OpenSSL .NET already
/// loads (libssl 3): the same function on a scratch context, then the context's suites by their IANA numbers,
/// which are <see cref="TlsCipherSuite"/>'s values. Operators' existing strings mean exactly what they meant;
/// the list governs TLS 1.2 (as it did), and TLS 1.3 keeps OpenSSL's default suites, which the expansion includes.
/// </summary>
internal static partial class OpenSslCiphers
{
    private const string Ssl = "libssl.so.3";
    private const string Crypto = "libcrypto.so.3";

    /// <summary>The suites <paramref name="expression"/> selects, in OpenSSL's order; null with a reason when
    /// OpenSSL refuses the expression (it selects nothing) or cannot be loaded.</summary>
    public static IReadOnlyList<TlsCipherSuite>? Expand(string expression, out string? error)
    {
        error = null;
        try
        {
            var context = SslCtxNew(TlsClientMethod());
            if (context == 0)
            {
                error = "OpenSSL could not make a context";
                return null;
            }

            try
            {
                if (SslCtxSetCipherList(context, expression) != 1)
                {
                    error = $"OpenSSL selects no cipher for \"{expression}\"";
                    return null;
                }

                var stack = SslCtxGetCiphers(context);
                var count = SkNum(stack);
                var suites = new List<TlsCipherSuite>(Math.Max(count, 0));
                for (var i = 0; i < count; i++)
                {
                    suites.Add((TlsCipherSuite)CipherProtocolId(SkValue(stack, i)));
                }

                return suites;
            }
            finally
            {
                SslCtxFree(context);
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            error = $"OpenSSL 3 is not available: {e.Message}";
            return null;
        }
    }

    [LibraryImport(Ssl, EntryPoint = "TLS_client_method")]
    private static partial nint TlsClientMethod();

    [LibraryImport(Ssl, EntryPoint = "SSL_CTX_new")]
    private static partial nint SslCtxNew(nint method);

    [LibraryImport(Ssl, EntryPoint = "SSL_CTX_free")]
    private static partial void SslCtxFree(nint context);

    [LibraryImport(Ssl, EntryPoint = "SSL_CTX_set_cipher_list", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SslCtxSetCipherList(nint context, string list);

    [LibraryImport(Ssl, EntryPoint = "SSL_CTX_get_ciphers")]
    private static partial nint SslCtxGetCiphers(nint context);

    [LibraryImport(Ssl, EntryPoint = "SSL_CIPHER_get_protocol_id")]
    private static partial ushort CipherProtocolId(nint cipher);

    [LibraryImport(Crypto, EntryPoint = "OPENSSL_sk_num")]
    private static partial int SkNum(nint stack);

    [LibraryImport(Crypto, EntryPoint = "OPENSSL_sk_value")]
    private static partial nint SkValue(nint stack, int index);
}
