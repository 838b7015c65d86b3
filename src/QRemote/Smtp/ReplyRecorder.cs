using MailKit;
using QRemote.Qmail;

namespace QRemote.Smtp;

/// <summary>
/// MailKit's protocol logger is the only place that sees the server's replies with their codes
/// (its exceptions carry the text without them). This logger splits the bytes the server sent
/// into replies, keeping the last one for the report, and writes the transcript for
/// <c>--verbose</c>. It keeps a bounded amount: a reply's text is capped at
/// <see cref="ReportText.MaxServerTextBytes"/> bytes; the rest is counted and dropped.
/// </summary>
public sealed class ReplyRecorder : IProtocolLogger
{
    private readonly TextWriter? _transcript;
    private readonly MemoryStream _line = new();
    private readonly MemoryStream _reply = new();

    public ReplyRecorder(TextWriter? transcript) => _transcript = transcript;

    public IAuthenticationSecretDetector? AuthenticationSecretDetector { get; set; }

    /// <summary>The last complete reply, or null before the first.</summary>
    public SmtpReply? LastReply { get; private set; }

    /// <summary>Replies completed so far.</summary>
    public int ReplyCount { get; private set; }

    /// <summary>Total reply text kept for <see cref="Claim"/>: 10,000 recipients' replies fit; a server that
    /// sends 5000-byte replies to each gets the rest reported by code alone.</summary>
    public const int MaxQueuedBytes = 1 << 20;

    private readonly Queue<SmtpReply> _unclaimed = new();
    private int _queuedBytes;
    private bool _queueing;

    /// <summary>From now on, keep each reply until a command's outcome claims it (MAIL and RCPT replies
    /// are read in one flight, before MailKit reports on any of them).</summary>
    public void StartQueueing()
    {
        _unclaimed.Clear();
        _queuedBytes = 0;
        _queueing = true;
    }

    /// <summary>The oldest unclaimed reply, if its code is <paramref name="code"/>; else null (the caller falls
    /// back to MailKit's text).</summary>
    public SmtpReply? Claim(int code)
    {
        if (_unclaimed.TryDequeue(out var reply))
        {
            return reply.Code == code ? reply : null;
        }

        return null;
    }

    // The message itself never enters the transcript (it may go to a log file): after a 354 reply
    // the client's bytes are counted until the final dot; after "BDAT n" the next n bytes are.
    private bool _inData;
    private long _bdatRemaining;
    private long _bodyBytes;

    public void LogConnect(Uri uri)
    {
        _transcript?.WriteLine($"connected to {uri}");
    }

    public void LogClient(byte[] buffer, int offset, int count)
    {
        if (_transcript is null)
        {
            return;
        }

        ReadOnlySpan<byte> span = buffer.AsSpan(offset, count);
        while (!span.IsEmpty)
        {
            if (_bdatRemaining > 0)
            {
                var n = (int)Math.Min(_bdatRemaining, span.Length);
                _bdatRemaining -= n;
                _bodyBytes += n;
                span = span[n..];
                if (_bdatRemaining == 0)
                {
                    EndBody();
                }

                continue;
            }

            if (_inData)
            {
                span = ConsumeData(span);
                continue;
            }

            var end = span.IndexOf("\r\n"u8);
            var line = end < 0 ? span : span[..end];
            var text = System.Text.Encoding.UTF8.GetString(line);
            var secrets = AuthenticationSecretDetector?.DetectSecrets(buffer, offset + (count - span.Length), line.Length);
            _transcript.WriteLine("C: " + (secrets is { Count: > 0 } ? "(authentication data redacted)" : ReportText.Sanitize(text)));
            if (text.StartsWith("BDAT ", StringComparison.OrdinalIgnoreCase)
                && long.TryParse(text.Split(' ')[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var size))
            {
                _bdatRemaining = size;
                if (size == 0)
                {
                    EndBody();
                }
            }

            span = end < 0 ? [] : span[(end + 2)..];
        }
    }

    /// <summary>Counts DATA bytes up to the terminating "." line (a lone dot at the start of a line: dots
    /// inside the message are stuffed, so only the terminator is one).</summary>
    private ReadOnlySpan<byte> ConsumeData(ReadOnlySpan<byte> span)
    {
        for (var i = 0; i < span.Length; i++)
        {
            var b = span[i];
            _bodyBytes++;
            if (_dotState == 1 && b == (byte)'\r')
            {
                _dotState = 2;
                continue;
            }

            if (_dotState == 2 && b == (byte)'\n')
            {
                EndBody();
                return span[(i + 1)..];
            }

            _dotState = _lineStart && b == (byte)'.' ? 1 : 0;
            _lineStart = b == (byte)'\n' && _previousCr;
            _previousCr = b == (byte)'\r';
        }

        return [];
    }

    private int _dotState;
    private bool _lineStart;
    private bool _previousCr;

    private void EndBody()
    {
        _transcript?.WriteLine($"C: ({_bodyBytes} bytes of message data, not shown)");
        _inData = false;
        _bodyBytes = 0;
    }

    public void LogServer(byte[] buffer, int offset, int count)
    {
        for (var i = offset; i < offset + count; i++)
        {
            var b = buffer[i];
            if (b == (byte)'\n')
            {
                EndLine();
            }
            else if (b != (byte)'\r')
            {
                if (_line.Length < ReportText.MaxServerTextBytes)
                {
                    _line.WriteByte(b);
                }
            }
        }
    }

    public void Dispose()
    {
        _line.Dispose();
        _reply.Dispose();
    }

    private void EndLine()
    {
        var bytes = _line.ToArray();
        _line.SetLength(0);
        if (_transcript is not null)
        {
            _transcript.WriteLine("S: " + ReportText.FromWire(bytes));
        }

        if (_reply.Length + bytes.Length + 1 <= ReportText.MaxServerTextBytes)
        {
            _reply.Write(bytes);
            _reply.WriteByte((byte)'\n');
        }

        // A reply ends with a line whose fourth byte is not '-' (RFC 5321 4.2.1).
        var last = bytes.Length < 4 || bytes[3] != (byte)'-';
        if (!last)
        {
            return;
        }

        var code = ParseCode(_reply.Length > 0 ? _reply.GetBuffer().AsSpan(0, 3) : bytes);
        if (code == 354)
        {
            _inData = true;
            _bodyBytes = 0;
            _dotState = 0;
            _lineStart = true;
            _previousCr = false;
        }
        LastReply = new SmtpReply(code, ReportText.FromWire(_reply.ToArray()));
        ReplyCount++;
        if (_queueing)
        {
            var kept = _queuedBytes + LastReply.Lines.Length <= MaxQueuedBytes ? LastReply : LastReply with { Lines = FormattableString.Invariant($"{code} (reply text not kept)\n") };
            _queuedBytes += kept.Lines.Length;
            _unclaimed.Enqueue(kept);
        }
        _reply.SetLength(0);
    }

    /// <summary>Three digits, or -1 (a malformed code is never taken for success).</summary>
    private static int ParseCode(ReadOnlySpan<byte> line) =>
        line.Length >= 3 && char.IsAsciiDigit((char)line[0]) && char.IsAsciiDigit((char)line[1]) && char.IsAsciiDigit((char)line[2])
            ? ((line[0] - '0') * 100) + ((line[1] - '0') * 10) + (line[2] - '0')
            : -1;
}
