using QRemote.Message;

namespace QRemote.Tests.Properties;

/// <summary>A message and the chunk sizes it is read in (used in turn, again and again).</summary>
public sealed record WireInput(byte[] Bytes, int[] Chunks, bool DotStuff)
{
    public override string ToString() =>
        $"{Bytes.Length} bytes, dot-stuffing {DotStuff}, chunks of {string.Join(",", Chunks)}: {Hex.Of(Bytes)}";
}

/// <summary>
/// <see cref="WireEncoder"/> on arbitrary bytes in arbitrary chunks. Holds when:
/// <list type="bullet">
/// <item>nothing throws, and no chunk needs more than <see cref="WireEncoder.MaxOutputLength"/> bytes (each chunk
/// gets an output buffer of exactly that size);</item>
/// <item>every CR and every LF in the output is part of a CRLF;</item>
/// <item>with dot-stuffing, no line is a lone "." (so "\r\n.\r\n" never appears and the output never starts
/// with ".\r\n"): the final dot is the SMTP layer's alone;</item>
/// <item>the chunking does not change the output;</item>
/// <item>un-stuffing the output (one leading dot off each line) and writing its CRLFs as LF gives the input
/// with every CRLF, lone CR and lone LF written as LF.</item>
/// </list>
/// </summary>
public static class WireInvariants
{
    public static void Check(WireInput input)
    {
        var whole = Encode(input.Bytes, [int.MaxValue], input.DotStuff);
        var chunked = Encode(input.Bytes, input.Chunks, input.DotStuff);
        if (!whole.AsSpan().SequenceEqual(chunked))
        {
            throw new InvariantException($"chunking changed the output: whole {Hex.Of(whole)}, chunked {Hex.Of(chunked)}");
        }

        for (var i = 0; i < whole.Length; i++)
        {
            var b = whole[i];
            if (b == (byte)'\r' && (i + 1 >= whole.Length || whole[i + 1] != (byte)'\n'))
            {
                throw new InvariantException($"bare CR at {i}: {Hex.Of(whole)}");
            }

            if (b == (byte)'\n' && (i == 0 || whole[i - 1] != (byte)'\r'))
            {
                throw new InvariantException($"bare LF at {i}: {Hex.Of(whole)}");
            }
        }

        var lines = Lines(whole);
        var restored = new List<byte>(input.Bytes.Length);
        for (var l = 0; l < lines.Count; l++)
        {
            var line = lines[l];
            if (input.DotStuff && line.Length == 1 && line[0] == (byte)'.')
            {
                throw new InvariantException($"a line that is a lone dot (line {l}): {Hex.Of(whole)}");
            }

            if (input.DotStuff && line.Length > 0 && line[0] == (byte)'.')
            {
                line = line[1..];
            }

            restored.AddRange(line);
            if (l < lines.Count - 1)
            {
                restored.Add((byte)'\n');
            }
        }

        var expected = ToLf(input.Bytes);
        if (!restored.ToArray().AsSpan().SequenceEqual(expected))
        {
            throw new InvariantException($"un-stuffed output {Hex.Of([.. restored])} is not the input with LF endings {Hex.Of(expected)}");
        }
    }

    public static byte[] Encode(byte[] bytes, int[] chunks, bool dotStuff)
    {
        var encoder = new WireEncoder(dotStuff);
        var output = new List<byte>(bytes.Length * 2);
        var position = 0;
        var turn = 0;
        while (position < bytes.Length)
        {
            var size = (int)Math.Clamp(chunks.Length == 0 ? 1L : chunks[turn++ % chunks.Length], 1L, bytes.Length - position);
            var buffer = new byte[WireEncoder.MaxOutputLength(size)];
            int written;
            try
            {
                written = encoder.Encode(bytes.AsSpan(position, size), buffer);
            }
            catch (ArgumentException e)
            {
                throw new InvariantException($"a chunk of {size} bytes at {position} needs more than {buffer.Length} bytes", e);
            }
            catch (IndexOutOfRangeException e)
            {
                throw new InvariantException($"a chunk of {size} bytes at {position} needs more than {buffer.Length} bytes", e);
            }

            output.AddRange(buffer.AsSpan(0, written));
            position += size;
        }

        return [.. output];
    }

    /// <summary>The lines between CRLFs; the last item is what follows the last CRLF (often empty).</summary>
    private static List<byte[]> Lines(byte[] output)
    {
        var lines = new List<byte[]>();
        var start = 0;
        for (var i = 0; i + 1 < output.Length; i++)
        {
            if (output[i] == (byte)'\r' && output[i + 1] == (byte)'\n')
            {
                lines.Add(output[start..i]);
                start = i + 2;
                i++;
            }
        }

        lines.Add(output[start..]);
        return lines;
    }

    private static byte[] ToLf(byte[] input)
    {
        var result = new List<byte>(input.Length);
        for (var i = 0; i < input.Length; i++)
        {
            if (input[i] == (byte)'\r')
            {
                result.Add((byte)'\n');
                if (i + 1 < input.Length && input[i + 1] == (byte)'\n')
                {
                    i++;
                }
            }
            else
            {
                result.Add(input[i]);
            }
        }

        return [.. result];
    }
}
