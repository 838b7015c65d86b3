using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using QRemote.Delivery;
using QRemote.Tests.Infrastructure;
using QRemote.Tests.Tls.MtaSts;
using QRemote.Tls;

namespace QRemote.Tests.Tls.TlsReport;

/// <summary>
/// The peers of the TLS reporting tests, DANE's and MTA-STS's fixtures put together: a signed BIND zone <c>rpt.test</c>
/// behind a validating Unbound (the AD bit real), with TLSA records that match, do not match, fail to resolve, and point
/// at a server without STARTTLS; MTA-STS records and an <c>openssl s_server</c> serving one enforce policy; three Postfix
/// smtpd (the right certificate, a certificate naming somebody else, no TLS at all); <c>_smtp._tls</c> TXT records of
/// every kind; and an HTTPS report receiver. Each delivery writes its results to a spool of the test's own.
/// </summary>
internal sealed class TlsReportFixture : IDisposable
{
    public static readonly IPAddress PolicyAddress = IPAddress.Parse("127.0.0.91");
    public static readonly IPAddress WrongNameAddress = IPAddress.Parse("127.0.0.92");
    public static readonly IPAddress NoTlsAddress = IPAddress.Parse("127.0.0.93");
    public static readonly IPAddress ReceiverAddress = IPAddress.Parse("127.0.0.95");

    /// <summary>Destinations listed by the domain with the huge rua list.</summary>
    public const int HugeRuaCount = 60;

    public const string StsPolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.rpt.test\r\nmx: *.stsname.rpt.test\r\nmax_age: 86400\r\n";

    private readonly Bind _bind;
    private readonly GarbageDnsServer _garbage;
    private readonly Unbound _unbound;
    private readonly OpensslPolicyServer _policies;

    public TlsReportFixture()
    {
        Ca = new TestCa("TLS Report Test CA");
        var mx = Ca.Issue("mx", "mx.good.rpt.test", "mx.bad.rpt.test", "mx.fail.rpt.test", "mx.sts.rpt.test", "mx.stsout.rpt.test", "mx.stsfetch.rpt.test");
        var other = Ca.Issue("other", "somebody.else.test");
        var web = Ca.Issue("web", "mta-sts.sts.rpt.test", "mta-sts.stsname.rpt.test", "mta-sts.stsout.rpt.test");
        var receiver = Ca.Issue("receiver", "reports.rpt.test");
        Port = FreePort.Tcp(PostfixServer.DefaultAddress);
        Postfix = PostfixServer.StartOn(PostfixServer.DefaultAddress, Port,
            ("smtpd_tls_security_level", "may"), ("smtpd_tls_chain_files", $"{mx.KeyFile}, {mx.ChainFile}"));
        WrongName = PostfixServer.StartOn(WrongNameAddress, Port,
            ("smtpd_tls_security_level", "may"), ("smtpd_tls_chain_files", $"{other.KeyFile}, {other.ChainFile}"));
        NoTls = PostfixServer.StartOn(NoTlsAddress, Port);
        _policies = OpensslPolicyServer.Start(PolicyAddress, web.CertificateFile, web.KeyFile, Encoding.ASCII.GetBytes(StsPolicy));
        Receiver = new ReportHttpsServer(ReceiverAddress, receiver.CertificateFile, receiver.KeyFile);

        EeHash = Convert.ToHexString(SHA256.HashData(mx.Certificate.PublicKey.ExportSubjectPublicKeyInfo())).ToLowerInvariant();
        var wrong = Convert.ToHexString(SHA256.HashData("not this certificate"u8));
        var tlsa = $"_{Port}._tcp";
        var https = $"https://reports.rpt.test:{Receiver.Port}/tlsrpt";
        // One TXT record of many strings (each under 255 octets): the TLSRPT record is their concatenation.
        var huge = string.Join(" ", Enumerable.Range(1, HugeRuaCount).Select(i => $"\"mailto:r{i}@reports.rpt.test{(i < HugeRuaCount ? "," : "")}\""));
        var zone = $"""
            $TTL 300
            @              SOA   ns.rpt.test. hostmaster.rpt.test. 1 3600 600 86400 300
            @              NS    ns
            ns             A     127.0.0.1
            reports        A     {ReceiverAddress}
            good           MX    10 mx.good
            mx.good        A     127.0.0.3
            {tlsa}.mx.good TLSA  3 1 1 {EeHash}
            _smtp._tls.good TXT  "v=TLSRPTv1; rua=mailto:tlsrpt@reports.rpt.test"
            bad            MX    10 mx.bad
            mx.bad         A     127.0.0.3
            {tlsa}.mx.bad  TLSA  3 1 1 {wrong}
            _smtp._tls.bad TXT   "v=TLSRPTv1; rua=ftp://reports.rpt.test/tlsrpt,mailto:-oops@reports.rpt.test"
            fail           MX    10 mx.fail
            mx.fail        A     127.0.0.3
            _tcp.mx.fail   NS    ns.garbage
            ns.garbage     A     127.0.0.1
            notls          MX    10 mx.notls
            mx.notls       A     {NoTlsAddress}
            {tlsa}.mx.notls TLSA 3 1 1 {EeHash}
            plain          MX    10 mx.plain
            mx.plain       A     127.0.0.3
            _smtp._tls.plain TXT "v=TLSRPTv1; rua=mailto:tlsrpt@reports.rpt.test"
            sts            MX    10 mx.sts
            mx.sts         A     127.0.0.3
            _mta-sts.sts   TXT   "v=STSv1; id=1"
            mta-sts.sts    A     {PolicyAddress}
            _smtp._tls.sts TXT   "v=TLSRPTv1; rua={https}"
            stsname        MX    10 mx.stsname
            mx.stsname     A     {WrongNameAddress}
            _mta-sts.stsname TXT "v=STSv1; id=1"
            mta-sts.stsname A    {PolicyAddress}
            stsout         MX    10 mx.stsout
            mx.stsout      A     127.0.0.3
            _mta-sts.stsout TXT  "v=STSv1; id=1"
            mta-sts.stsout A     {PolicyAddress}
            _smtp._tls.stsout TXT "v=TLSRPTv1; rua=" {huge}
            stsfetch       MX    10 mx.stsfetch
            mx.stsfetch    A     127.0.0.3
            _mta-sts.stsfetch TXT "v=STSv1; id=1"
            mta-sts.stsfetch A   127.0.0.94

            """;
        _bind = Bind.Start(new Dictionary<string, string?> { ["rpt.test"] = zone }, new HashSet<string> { "rpt.test" });
        _garbage = new GarbageDnsServer();
        _unbound = Unbound.Start(
            new Dictionary<string, IPEndPoint>
            {
                ["rpt.test"] = _bind.EndPoint,
                ["_tcp.mx.fail.rpt.test"] = new IPEndPoint(IPAddress.Loopback, _garbage.Port),
            },
            [_bind.KeySigningKey("rpt.test")],
            []);
        ResolvConf = _unbound.WriteResolvConf();
        StsCache = Path.Combine(Ca.Directory, "sts-cache");
        Directory.CreateDirectory(StsCache);
    }

    public TestCa Ca { get; }

    public int Port { get; }

    public PostfixServer Postfix { get; }

    public PostfixServer WrongName { get; }

    public PostfixServer NoTls { get; }

    public ReportHttpsServer Receiver { get; }

    public string ResolvConf { get; }

    public string StsCache { get; }

    /// <summary>The matching TLSA record's data, lower case as the spool writes it.</summary>
    public string EeHash { get; }

    public string PolicyPort => _policies.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>One delivery to rcpt@DOMAIN with every result recorded to <paramref name="spool"/>.</summary>
    public async Task<string> DeliverAsync(string domain, string spool, string sender = "sender@rpt.test")
    {
        var recorder = new TlsReportRecorder(new TlsReportTarget(spool, Datagram: false), TimeProvider.System);
        return await DeliverAsync(domain, recorder, sender);
    }

    public async Task<string> DeliverAsync(string domain, TlsReportRecorder recorder, string sender = "sender@rpt.test")
    {
        var config = Harness.Config() with { MtaStsCacheDirectory = StsCache };
        var roots = new Lazy<X509Certificate2Collection>(() => [Ca.Certificate]);
        return await Harness.DeliverAsync(domain, sender, [$"rcpt@{domain}"], Encoding.UTF8.GetBytes("Subject: tlsrpt\n\nhello\n"), new()
        {
            Config = config, SmtpPort = Port, ResolvConf = ResolvConf, TlsReport = recorder,
            MtaSts = MtaStsRequirement.For(config, roots, TimeProvider.System, TestContext.Out, _policies.Port, tlsReport: recorder),
        });
    }

    public void Dispose()
    {
        _unbound.Dispose();
        _garbage.Dispose();
        _bind.Dispose();
        Receiver.Dispose();
        _policies.Dispose();
        NoTls.Dispose();
        WrongName.Dispose();
        Postfix.Dispose();
        Ca.Dispose();
    }
}
