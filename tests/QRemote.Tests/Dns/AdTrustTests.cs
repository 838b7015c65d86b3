using System.Net;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Dns;

/// <summary>
/// The AD bit is believed only from a resolver on this host, or with <c>options trust-ad</c> (as glibc 2.31+), with
/// the published binary inside a network namespace of the test's own. There a forging "resolver" listens on a
/// non-loopback address (10.53.0.1, on the namespace's lo only) and on 127.0.0.53, and answers everything with AD=1,
/// including a TLSA record for the exchanger that matches no certificate. The exchanger (smtp-sink) offers no
/// STARTTLS: if DANE applies the delivery defers (never plain text), if the AD bit is ignored it is delivered.
/// </summary>
[NonParallelizable]
public sealed class AdTrustTests
{
    /// <summary>A DNS server that sets AD on every answer: what anyone on the path to a remote resolver can send.</summary>
    private const string Forger = """
        import socket, struct, select
        socks, held = [], []
        for a in ('10.53.0.1', '127.0.0.53'):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind((a, 53)); socks.append(u)
            t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind((a, 53)); t.listen(4); held.append(t)
        def wire(n):
            return b''.join(bytes([len(l)]) + l.encode() for l in n.split('.')) + b'\0'
        while True:
            ready, _, _ = select.select(socks, [], [])
            for s in ready:
                q, peer = s.recvfrom(4096)
                i, labels = 12, []
                while q[i] != 0:
                    labels.append(q[i + 1:i + 1 + q[i]].decode().lower()); i += q[i] + 1
                qtype = struct.unpack('>H', q[i + 1:i + 3])[0]
                n, answers, rcode = '.'.join(labels), [], 0
                if n == 'forged.test' and qtype == 15:
                    answers.append((15, struct.pack('>H', 10) + wire('mx.forged.test')))
                elif n == 'mx.forged.test' and qtype == 1:
                    answers.append((1, socket.inet_aton('127.0.0.20')))
                elif n == '_25._tcp.mx.forged.test' and qtype == 52:
                    answers.append((52, bytes([3, 1, 1]) + bytes(range(32))))
                elif n not in ('forged.test', 'mx.forged.test', '_25._tcp.mx.forged.test'):
                    rcode = 3
                # QR RD RA AD: "validated", says the forger.
                header = struct.pack('>HHHHHH', struct.unpack('>H', q[:2])[0], 0x8000 | 0x0100 | 0x0080 | 0x0020 | rcode, 1, len(answers), 0, 0)
                body = b''.join(struct.pack('>HHHIH', 0xC00C, t, 1, 300, len(d)) + d for t, d in answers)
                s.sendto(header + q[12:i + 5] + body, peer)
        """;

    private NetworkNamespace _netns = null!;
    private ExternalProcess _forger = null!;
    private SmtpSink _sink = null!;
    private TempQmailHome _home = null!;
    private string _message = "";

    [OneTimeSetUp]
    public void CreateWorld()
    {
        var (netns, why) = NetworkNamespace.TryCreate();
        if (netns is null)
        {
            Assert.Fail($"these tests need a network namespace: {why}");
        }

        _netns = netns!;
        _netns.Exec("ip", "addr", "add", "10.53.0.1/32", "dev", "lo");
        _forger = _netns.Start("/usr/bin/python3", ["-c", Forger]);
        _netns.WaitForListener("10.53.0.1", 53, _forger);
        _netns.WaitForListener("127.0.0.53", 53, _forger);
        _sink = SmtpSink.StartOn(_netns, IPAddress.Parse("127.0.0.20"), 25);
        _home = TempQmailHome.Create();
        _message = Path.Combine(_home.Path, "message");
        File.WriteAllText(_message, "From: s@qremote.test\nSubject: ad\n\nhello\n");
        _ = PublishedBinary.Path;
    }

    [OneTimeTearDown]
    public void DestroyWorld()
    {
        _sink?.Dispose();
        _forger?.Dispose();
        _netns?.Dispose();
        _home?.Dispose();
    }

    private RspawnResult Deliver(string resolvConf)
    {
        File.WriteAllText(Path.Combine(_netns.EtcDirectory, "resolv.conf"), resolvConf + "options timeout:2 attempts:1\n");
        var result = QmailRspawn.Run(_home.Path, _message, ["forged.test", "s@qremote.test", "rcpt@forged.test"], _netns);
        TestContext.Out.WriteLine(result.Shown);
        return result;
    }

    private const string DaneApplied =
        "ZConnected to 127.0.0.20 but it does not offer STARTTLS, which DANE: _25._tcp.mx.forged.test: 1 secure TLSA record requires. (#4.7.1)\n\\0";

    [Test]
    public void A_forged_ad_bit_from_a_non_loopback_resolver_does_not_make_dane_apply()
    {
        var r = Deliver("nameserver 10.53.0.1\n");
        Assert.That(r.Shown, Is.EqualTo("r\\0K127.0.0.20 accepted message.\nRemote host said: 250 2.0.0 Ok\nTLS: none offered\n\\0"));
    }

    [Test]
    public void The_same_answers_from_a_loopback_resolver_are_believed_and_dane_applies()
    {
        // The guard: the forged answers do make DANE apply when the AD bit is believed, so the test above can fail.
        Assert.That(Deliver("nameserver 127.0.0.53\n").Shown, Is.EqualTo(DaneApplied));
    }

    [Test]
    public void Options_trust_ad_makes_a_non_loopback_resolver_believed()
    {
        Assert.That(Deliver("nameserver 10.53.0.1\noptions trust-ad\n").Shown, Is.EqualTo(DaneApplied));
    }
}
