using System.Security.Cryptography.X509Certificates;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// A certificate authority made with openssl at test time, in a temp directory readable by Postfix's
/// daemons, issuing server and client certificates with the names a test needs.
/// </summary>
internal sealed class TestCa : IDisposable
{
    private const string OpenSsl = "/usr/bin/openssl";
    private int _serial;

    public TestCa(string name = "QRemote Test CA")
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("qremote-ca-").FullName;
        File.SetUnixFileMode(Directory, (UnixFileMode)0b111_101_101);
        CertificateFile = Path.Combine(Directory, "ca.pem");
        KeyFile = Path.Combine(Directory, "ca.key");
        ExternalProcess.Run(OpenSsl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", KeyFile, "-out", CertificateFile,
            "-subj", "/CN=" + name, "-days", "2", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    }

    public string Directory { get; }

    public string CertificateFile { get; }

    public string KeyFile { get; }

    public X509Certificate2 Certificate => X509CertificateLoader.LoadCertificateFromFile(CertificateFile);

    /// <summary>A certificate for <paramref name="names"/> (the first is the CN; an address becomes an IP name), signed by this CA. Files: the
    /// certificate followed by the CA's (the chain a server presents), the key, and both in one PEM file.</summary>
    public Issued Issue(string label, params string[] names)
    {
        var serial = Interlocked.Increment(ref _serial);
        var key = Path.Combine(Directory, $"{label}.key");
        var csr = Path.Combine(Directory, $"{label}.csr");
        var cert = Path.Combine(Directory, $"{label}.pem");
        var ext = Path.Combine(Directory, $"{label}.ext");
        File.WriteAllText(ext, $"subjectAltName={string.Join(",", names.Select(n => (System.Net.IPAddress.TryParse(n, out _) ? "IP:" : "DNS:") + n))}\nextendedKeyUsage=serverAuth,clientAuth\n");
        ExternalProcess.Run(OpenSsl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=" + names[0]);
        ExternalProcess.Run(OpenSsl, "x509", "-req", "-in", csr, "-CA", CertificateFile, "-CAkey", KeyFile, "-set_serial",
            (1000 + serial).ToString(System.Globalization.CultureInfo.InvariantCulture), "-out", cert, "-days", "2", "-extfile", ext);
        var chain = Path.Combine(Directory, $"{label}-chain.pem");
        File.WriteAllText(chain, File.ReadAllText(cert) + File.ReadAllText(CertificateFile));
        var both = Path.Combine(Directory, $"{label}-with-key.pem");
        File.WriteAllText(both, File.ReadAllText(cert) + File.ReadAllText(key));
        foreach (var f in new[] { key, both })
        {
            File.SetUnixFileMode(f, (UnixFileMode)0b110_100_100);
        }

        return new Issued(cert, key, chain, both);
    }

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}

/// <param name="CertificateFile">The certificate alone.</param>
/// <param name="KeyFile">Its key.</param>
/// <param name="ChainFile">The certificate, then the CA's.</param>
/// <param name="CertificateAndKeyFile">Certificate and key in one file (control/clientcert.pem's form).</param>
internal sealed record Issued(string CertificateFile, string KeyFile, string ChainFile, string CertificateAndKeyFile)
{
    public X509Certificate2 Certificate => X509CertificateLoader.LoadCertificateFromFile(CertificateFile);
}
