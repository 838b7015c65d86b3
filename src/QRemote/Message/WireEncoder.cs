namespace QRemote.Message;

/// <summary>
/// Turns the bytes of a queued message into SMTP wire form, incrementally (the message is
/// streamed, never held whole).
/// <para>
/// Line endings: LF, CRLF and a bare CR each become one CRLF. RFC 5321 2.3.8 forbids sending
/// CR or LF except as CRLF; netqmail sends a bare CR through (and turns CRLF into CR CR LF), and
/// a bare CR next to a dot is the raw material of SMTP smuggling (<c>x\r.\r\n</c> ends DATA on
/// some servers). With every line ending made CRLF, a dot can only ever stand at the start of a
/// real line, where it is stuffed.
/// </para>
/// <para>Dot-stuffing (RFC 5321 4.5.2) is a choice: on for DATA, where this encoder is the only one (the message
/// goes to the connection beneath MailKit's stream, see <c>PipelinedSender</c>, so MailKit never sees it to stuff
/// it); off for BDAT, whose chunk is the message as it is, and for the length scan (SIZE=, BDAT's count).</para>
/// </summary>
internal sealed class WireEncoder
{
    private bool _afterCr;
    private bool _atLineStart = true;

    public WireEncoder(bool dotStuff) => DotStuff = dotStuff;

    public bool DotStuff { get; }

    /// <summary>The largest output <see cref="Encode"/> can produce from <paramref name="inputLength"/> bytes.</summary>
    public static int MaxOutputLength(int inputLength) => checked(inputLength * 2);

    /// <summary>Encodes one chunk of the message; returns the number of bytes written to <paramref name="output"/>,
    /// which must hold <see cref="MaxOutputLength"/> bytes.</summary>
    public int Encode(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var written = 0;
        while (!input.IsEmpty)
        {
            if (_afterCr)
            {
                _afterCr = false;
                if (input[0] == (byte)'\n')
                {
                    input = input[1..];
                    continue;
                }
            }

            if (_atLineStart && DotStuff && input[0] == (byte)'.')
            {
                output[written++] = (byte)'.';
            }

            var end = input.IndexOfAny((byte)'\r', (byte)'\n');
            if (end < 0)
            {
                input.CopyTo(output[written..]);
                written += input.Length;
                _atLineStart = false;
                return written;
            }

            input[..end].CopyTo(output[written..]);
            written += end;
            output[written++] = (byte)'\r';
            output[written++] = (byte)'\n';
            _afterCr = input[end] == (byte)'\r';
            _atLineStart = true;
            input = input[(end + 1)..];
        }

        return written;
    }

    /// <summary>Whole-buffer convenience, for tests and small messages.</summary>
    public static byte[] EncodeAll(ReadOnlySpan<byte> message, bool dotStuff)
    {
        var encoder = new WireEncoder(dotStuff);
        var output = new byte[MaxOutputLength(message.Length)];
        var n = encoder.Encode(message, output);
        return output.AsSpan(0, n).ToArray();
    }
}
