using BenchmarkDotNet.Attributes;
using QRemote.Message;

namespace QRemote.Bench.Micro;

/// <summary>
/// The message's way to the wire: <see cref="WireEncoder"/> (LF to CRLF, dot-stuffing) over 1 MiB of
/// 72-character lines, in the 64 KiB chunks <see cref="MessageSource"/> reads, and
/// <see cref="MessageSource.WriteWireFormAsync"/> itself (read, encode, write to a null stream).
/// Lines: "plain" (none starts with a dot) or "dotted" (every one does: the worst case for stuffing).
/// </summary>
[MemoryDiagnoser]
public class WireBenchmarks
{
    private const int Size = 1 << 20;
    private const int Chunk = 64 * 1024;
    private byte[] _message = [];
    private byte[] _output = [];
    private MessageSource? _source;

    [Params("plain", "dotted")]
    public string Lines { get; set; } = "plain";

    [GlobalSetup]
    public void Setup()
    {
        _message = Lines72(Size, dotted: Lines == "dotted");
        _output = new byte[WireEncoder.MaxOutputLength(Chunk)];
        _source = MessageSource.OpenAsync(new MemoryStream(_message, writable: false), null, CancellationToken.None).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _source?.DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>DATA's form: CRLF and dot-stuffing.</summary>
    [Benchmark]
    public int EncodeDotStuffed() => Encode(dotStuff: true);

    /// <summary>BDAT's form: CRLF only.</summary>
    [Benchmark]
    public int EncodeForBdat() => Encode(dotStuff: false);

    /// <summary>The whole path from the (seekable) message to a stream, as DATA sends it.</summary>
    [Benchmark]
    public Task WriteWireForm() => _source!.WriteWireFormAsync(Stream.Null, dotStuff: true, CancellationToken.None);

    private int Encode(bool dotStuff)
    {
        var encoder = new WireEncoder(dotStuff);
        var total = 0;
        for (var offset = 0; offset < _message.Length; offset += Chunk)
        {
            total += encoder.Encode(_message.AsSpan(offset, Math.Min(Chunk, _message.Length - offset)), _output);
        }

        return total;
    }

    /// <summary>size bytes of 72-character lines ending in LF, as a queue file holds them.</summary>
    internal static byte[] Lines72(int size, bool dotted)
    {
        var message = new byte[size];
        for (var i = 0; i < size; i++)
        {
            var column = i % 73;
            message[i] = column == 72 ? (byte)'\n' : column == 0 && dotted ? (byte)'.' : (byte)('a' + (i % 26));
        }

        message[^1] = (byte)'\n';
        return message;
    }
}
