using System.Text;
using BenchmarkDotNet.Attributes;
using QRemote.Smtp;

namespace QRemote.Bench.Micro;

/// <summary>
/// <see cref="ReplyRecorder"/>: MailKit hands it every byte of the dialogue, both ways. Server side: a
/// one-line reply and a nine-line EHLO reply, parsed into an <see cref="SmtpReply"/>. Client side: the
/// message bytes it counts (and keeps out of the transcript) after a 354, byte by byte up to the final
/// dot, and after <c>BDAT n LAST</c>, by length; 1 MiB in MailKit-sized 4 KiB writes.
/// </summary>
[MemoryDiagnoser]
public class ReplyBenchmarks
{
    private const int Write = 4096;
    private static readonly byte[] Queued = "250 2.0.0 Ok: queued as 4dH8sV0zQkz9tKP\r\n"u8.ToArray();
    private static readonly byte[] Go = "354 End data with <CR><LF>.<CR><LF>\r\n"u8.ToArray();
    private static readonly byte[] Ehlo = Encoding.ASCII.GetBytes(
        "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n" +
        "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 CHUNKING\r\n");

    private readonly ReplyRecorder _recorder = new(null);
    private byte[] _data = [];
    private byte[] _bdat = [];

    [GlobalSetup]
    public void Setup()
    {
        var body = QRemote.Message.WireEncoder.EncodeAll(WireBenchmarks.Lines72(1 << 20, dotted: true), dotStuff: true);
        _data = [.. body, .. ".\r\n"u8];
        var plain = QRemote.Message.WireEncoder.EncodeAll(WireBenchmarks.Lines72(1 << 20, dotted: true), dotStuff: false);
        _bdat = [.. Encoding.ASCII.GetBytes($"BDAT {plain.Length} LAST\r\n"), .. plain];
    }

    [GlobalCleanup]
    public void Cleanup() => _recorder.Dispose();

    [Benchmark]
    public object? OneLineReply()
    {
        _recorder.LogServer(Queued, 0, Queued.Length);
        return _recorder.LastReply;
    }

    [Benchmark]
    public object? EhloReply()
    {
        _recorder.LogServer(Ehlo, 0, Ehlo.Length);
        return _recorder.LastReply;
    }

    /// <summary>A 354, then 1 MiB of dot-stuffed message and the final dot, counted byte by byte.</summary>
    [Benchmark]
    public int DataBody1MiB()
    {
        _recorder.LogServer(Go, 0, Go.Length);
        return Feed(_data);
    }

    /// <summary>BDAT n LAST and its 1 MiB, skipped by length.</summary>
    [Benchmark]
    public int BdatBody1MiB() => Feed(_bdat);

    /// <summary>A reply rebuilt from MailKit's text (the fallback when the recorder's reply does not match).</summary>
    [Benchmark]
    public object FromMailKit() => SmtpReply.FromMailKit(250, "mx.example.org\nPIPELINING\nSIZE 10240000\n8BITMIME\nCHUNKING");

    private int Feed(byte[] bytes)
    {
        for (var offset = 0; offset < bytes.Length; offset += Write)
        {
            _recorder.LogClient(bytes, offset, Math.Min(Write, bytes.Length - offset));
        }

        return _recorder.ReplyCount;
    }
}
