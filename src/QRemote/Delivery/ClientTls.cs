using System.Security.Cryptography.X509Certificates;
using QRemote.Dns;
using QRemote.Qmail;
using QRemote.Smtp;
using QRemote.Tls;

namespace QRemote.Delivery;

/// <summary>The client's side of STARTTLS for one connection: what verifies the server's certificate, the client
/// certificate, the cipher list; and how the TLS a connection ended up with reads in the log.</summary>
internal static class ClientTls
{
    /// <summary>Sets up the handshake for <paramref name="policy"/>. Returns why a control file could not be used, or null.</summary>
    public static string? Configure(QRemoteSmtpClient client, TlsPolicy policy, Destination destination, QmailConfig config, TimeProvider time, TextWriter? transcript)
    {
        try
        {
            switch (policy.Mode)
            {
                case TlsMode.Verified:
                    var roots = new X509Certificate2Collection();
                    roots.ImportFromPemFile(policy.CaFile!);
                    client.RequireVerified(roots);
                    break;
                case TlsMode.MtaSts:
                    client.RequireVerified(policy.Roots ?? []);
                    break;
                case TlsMode.Dane:
                    client.RequireDane(policy.Tlsa, policy.DaneNames.Count > 0 ? policy.DaneNames : [destination.ExchangerName], time.GetUtcNow().UtcDateTime);
                    break;
            }

            if (config.ClientCertificatePath is { } certificate)
            {
                // The certificate and its key in one PEM file, as qmail's TLS patch has it.
                client.ClientCertificates = [X509Certificate2.CreateFromPemFile(certificate)];
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            transcript?.WriteLine($"tls: {e.Message}");
            return "policy file unreadable: " + e.Message;
        }

        if (config.TlsClientCiphers is { } expression)
        {
            var suites = QRemote.Tls.OpenSslCiphers.Expand(expression, out var error);
            if (suites is null)
            {
                transcript?.WriteLine($"tls: control/tlsclientciphers: {error}");
                return "control/tlsclientciphers: " + error;
            }

            client.CipherSuites = new System.Net.Security.CipherSuitesPolicy(suites);
        }

        return null;
    }

    /// <summary>The TLS an opened connection has, as the last line of a K report: the protocol as OpenSSL names it and
    /// what checked the certificate, or why there is none.</summary>
    public static string Summary(QRemoteSmtpClient client, TlsPolicy policy)
    {
        if (!client.IsSecure)
        {
            return policy == TlsPolicy.PlainRetry ? Reports.TlsHandshakeFailed()
                : policy.Mode == TlsMode.Off ? Reports.TlsTurnedOff()
                : Reports.TlsNotOffered();
        }

        var protocol = client.SslProtocol switch
        {
            System.Security.Authentication.SslProtocols.Tls13 => "TLSv1.3",
            System.Security.Authentication.SslProtocols.Tls12 => "TLSv1.2",
            var other => other.ToString(),
        };
        return policy.Mode switch
        {
            // DANE-EE or DANE-TA, as Postfix logs it; TLSA records none of which is usable verify nothing (RFC 7672 2.2).
            TlsMode.Dane => client.DaneVerifiedBy is { } usage ? Reports.TlsVerified(protocol, usage) : Reports.TlsNotVerified(protocol),
            TlsMode.MtaSts => Reports.TlsVerified(protocol, "MTA-STS"),
            TlsMode.Verified => Reports.TlsVerified(protocol, "certificate"),
            _ => Reports.TlsNotVerified(protocol),
        };
    }

    /// <summary>The TLS an opened connection has, for the transcript and the log: protocol and cipher and whether the
    /// certificate was verified, or why there is none.</summary>
    public static string Describe(QRemoteSmtpClient client, TlsPolicy policy) =>
        client.IsSecure
            ? $"{client.SslProtocol} {client.SslCipherSuite}, " + (policy.Required ? $"certificate verified ({policy.Why})" : $"certificate not verified ({policy.Why})")
            : policy.Mode == TlsMode.Off ? $"none ({policy.Why})" : "none (not offered)";
}
