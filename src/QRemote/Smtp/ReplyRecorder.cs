using MailKit;
using QRemote.Qmail;

namespace QRemote.Smtp;

/// <summary>
/// MailKit's protocol logger is the only place that sees the bytes of the dialogue, so this is
/// where QRemote keeps its own account of it:
/// <list type="bullet">
/// <item>the server's replies with their codes (MailKit's exceptions carry the text without them), the
/// last one for the report; a reply's kept text is capped at <see cref="ReportText.MaxServerTextBytes"/>;</item>
/// <item>a hard cap on a reply's size, <see cref="MaxReplyBytes"/>: MailKit would buffer an endless line or
/// endless continuation lines in memory, so past the cap the connection is given up;</item>
/// <item>a deadline on each reply, whole: every reply must be complete within <c>timeoutremote</c> of the
/// command (or of the previous reply), so a server dripping one byte a second cannot hold a delivery
/// for ever (MailKit's own timeout is per read);</item>
/// <item>a deadline on each write of the message (<see cref="BeginWriting"/>): while it goes out, no reply's clock
/// runs (a 20 MB upload at 2 MB/s is not a late reply); each write must complete within <c>timeoutremote</c>, as
/// qmail's timeoutwrite has it, and the clock of the replies still owed starts when the last write is done;</item>
/// <item>the transcript for <c>--verbose</c> and the debug log, without the message itself.</item>
/// </list>
/// </summary>
internal sealed class ReplyRecorder : IProtocolLogger
{
    /// <summary>The most bytes one reply may have. Real replies are well under 10 KB (a long EHLO, a
    /// multi-line 5xx); 64 KiB leaves room and bounds memory.</summary>
    public const int MaxReplyBytes = 64 * 1024;

    /// <summary>Total reply text kept for <see cref="TryTake"/>: 10,000 recipients' replies fit; a server that
    /// sends 5000-byte replies to each gets the rest reported by code alone.</summary>
    public const int MaxQueuedBytes = 1 << 20;

    private TextWriter? _transcript;
    private readonly MemoryStream _line = new();
    private readonly MemoryStream _reply = new();
    private readonly Queue<SmtpReply> _unclaimed = new();
    private readonly Queue<bool> _wellFormed = new();
    private readonly ReplyClock _clock;
    private readonly Action? _giveUp;
    private readonly Lock _gate = new();
    private long _replyBytes;
    private int? _replyCode;
    private bool _replyWellFormed = true;
    private int _queuedBytes;
    private bool _queueing;

    // The message itself never enters the transcript (it may go to a log file): after a 354 reply
    // the client's bytes are counted until the final dot; after "BDAT n" the next n bytes are.
    private bool _inData;
    private long _bdatRemaining;
    private long _bodyBytes;
    private int _dotState;
    private bool _lineStart;
    private bool _previousCr;

    public ReplyRecorder(TextWriter? transcript)
        : this(transcript, TimeProvider.System, Timeout.InfiniteTimeSpan, null)
    {
    }

    /// <param name="transcript">Where the dialogue goes, or null.</param>
    /// <param name="time">The clock for the reply deadline.</param>
    /// <param name="replyDeadline">How long one reply may take, whole.</param>
    /// <param name="giveUp">Called (once) when a reply is too large or too late: it closes the connection, so
    /// the pending read (MailKit's, or the transaction's own) fails and the transaction ends as "connection died".</param>
    public ReplyRecorder(TextWriter? transcript, TimeProvider time, TimeSpan replyDeadline, Action? giveUp)
    {
        _transcript = transcript;
        _giveUp = giveUp;
        _clock = new ReplyClock(time, replyDeadline, giveUp is null ? null : GiveUp);
    }

    public IAuthenticationSecretDetector? AuthenticationSecretDetector { get; set; }

    /// <summary>Where the dialogue goes from now on: a cached connection serves one delivery after another.</summary>
    public TextWriter? Transcript
    {
        get => _transcript;
        set => _transcript = value;
    }

    /// <summary>Inside an AUTH exchange: every client line is a credential.</summary>
    private bool _inAuth;

    /// <summary>The last complete reply, or null before the first.</summary>
    public SmtpReply? LastReply { get; private set; }

    /// <summary>Replies completed so far.</summary>
    public int ReplyCount { get; private set; }

    /// <summary>Told the first word of each command the client sends, upper case (<c>AUTH</c> for every line of an AUTH
    /// exchange): what the transaction needs to follow the steps MailKit takes on its own (<see cref="SendProgress.Opened"/>).</summary>
    public Action<string>? CommandSent { get; set; }

    /// <summary>Why the connection was given up, if it was.</summary>
    public string? GaveUp { get; private set; }

    /// <summary>From now on, keep each reply until <see cref="TryTake"/> takes it: the hand-off to the transaction's
    /// own reading (<see cref="PipelinedSender"/>), after which this is the one parser of the replies.</summary>
    public void StartQueueing()
    {
        _unclaimed.Clear();
        _wellFormed.Clear();
        _queuedBytes = 0;
        _queueing = true;
    }

    /// <summary>The oldest reply not yet taken, if its code is <paramref name="code"/>; else null (it is taken either way).</summary>
    public SmtpReply? Claim(int code) => TryTake(out var reply, out _) && reply.Code == code ? reply : null;

    /// <summary>The oldest reply not yet taken, and whether every line of it is well formed as MailKit's parser
    /// requires (three digits, at least 100, then a space, a hyphen or the line's end; the same code on every line).
    /// False when no complete reply is waiting.</summary>
    public bool TryTake(out SmtpReply reply, out bool wellFormed)
    {
        if (_unclaimed.TryDequeue(out reply!))
        {
            wellFormed = _wellFormed.Dequeue();
            return true;
        }

        wellFormed = false;
        return false;
    }

    public void LogConnect(Uri uri)
    {
        _transcript?.WriteLine($"connected to {uri}");
    }

    public void LogClient(byte[] buffer, int offset, int count)
    {
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
            // Credentials never reach the transcript (and so no log). MailKit's detector marks some (PLAIN's
            // initial response) but not all: LOGIN's base64 password went through it, measured. So our own rule:
            // after AUTH's mechanism name, and on every line the client sends while the server answers 334,
            // nothing is shown. Nor does it reach CommandSent.
            var secrets = AuthenticationSecretDetector?.DetectSecrets(buffer, offset + (count - span.Length), line.Length);
            var isAuth = line.Length >= 5 && System.Text.Ascii.EqualsIgnoreCase(line[..5], "AUTH "u8);
            var secret = _inAuth || secrets is { Count: > 0 };
            if (isAuth)
            {
                _inAuth = true;
                var mechanism = line[5..];
                var end2 = mechanism.IndexOf((byte)' ');
                _transcript?.WriteLine("C: AUTH " + ReportText.FromWire(end2 < 0 ? mechanism : mechanism[..end2]) + (end2 < 0 ? "" : " (authentication data redacted)"));
            }
            else
            {
                _transcript?.WriteLine("C: " + (secret ? "(authentication data redacted)" : ReportText.FromWire(line)));
            }

            var space = line.IndexOf((byte)' ');
            CommandSent?.Invoke(secret || isAuth ? "AUTH" : System.Text.Encoding.ASCII.GetString(space < 0 ? line : line[..space]).ToUpperInvariant());
            if (line.StartsWith("BDAT "u8) || line.StartsWith("bdat "u8))
            {
                var text = System.Text.Encoding.ASCII.GetString(line);
                if (long.TryParse(text.Split(' ')[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var size))
                {
                    _bdatRemaining = size;
                    if (size == 0)
                    {
                        EndBody();
                    }
                }
            }
            else if (!line.StartsWith("QUIT"u8))
            {
                // A command that waits for a reply (QUIT's reply is never read).
                Expect();
            }

            span = end < 0 ? [] : span[(end + 2)..];
        }
    }

    public void LogServer(byte[] buffer, int offset, int count)
    {
        for (var i = offset; i < offset + count; i++)
        {
            // Counted byte by byte, so the cap is the same however the reads fall.
            if (++_replyBytes > MaxReplyBytes)
            {
                GiveUp($"a reply longer than {MaxReplyBytes} bytes");
                return;
            }

            var b = buffer[i];
            if (b == (byte)'\n')
            {
                EndLine();
            }
            else if (b != (byte)'\r' && _line.Length < ReportText.MaxServerTextBytes)
            {
                _line.WriteByte(b);
            }
        }
    }

    public void Dispose()
    {
        _clock.Dispose();
        _line.Dispose();
        _reply.Dispose();
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

    /// <summary>
    /// The message went to the connection beneath MailKit's stream (in 64 KiB writes rather than its 4 KiB ones):
    /// counted here as if it had passed through <see cref="LogClient"/>. For DATA the wire form ends with CRLF,
    /// so the dot that follows is at the start of a line; for BDAT it is the whole chunk.
    /// </summary>
    public void BodyWrittenDirectly(long bytes)
    {
        if (_bdatRemaining > 0)
        {
            var n = Math.Min(_bdatRemaining, bytes);
            _bdatRemaining -= n;
            _bodyBytes += n;
            if (_bdatRemaining == 0)
            {
                EndBody();
            }
        }
        else if (_inData)
        {
            _bodyBytes += bytes;
            _lineStart = true;
            _previousCr = false;
            _dotState = 0;
        }
    }

    private void EndBody()
    {
        _transcript?.WriteLine($"C: ({_bodyBytes} bytes of message data, not shown)");
        _inData = false;
        _bodyBytes = 0;
        Expect(); // the reply to the message
    }

    private void EndLine()
    {
        var bytes = _line.ToArray();
        _line.SetLength(0);
        _transcript?.WriteLine("S: " + ReportText.FromWire(bytes));

        // The code is the first line's, even when that line is too long to keep (RFC 5321 4.2.1). (The kept line
        // always has its first bytes, so the check of the code's form sees every line's.)
        var lineCode = ParseCode(bytes);
        _replyWellFormed &= lineCode >= 100 && (bytes.Length == 3 || bytes[3] is (byte)'-' or (byte)' ') && (_replyCode is null || lineCode == _replyCode);
        _replyCode ??= lineCode;
        // Keep up to the cap, cutting a line rather than dropping it (netqmail keeps the first 5000 bytes).
        var room = ReportText.MaxServerTextBytes - (int)_reply.Length - 1;
        if (room > 0)
        {
            _reply.Write(bytes, 0, Math.Min(room, bytes.Length));
            _reply.WriteByte((byte)'\n');
        }

        // A reply ends with a line whose fourth byte is not '-' (RFC 5321 4.2.1).
        if (bytes.Length >= 4 && bytes[3] == (byte)'-')
        {
            return;
        }

        var code = _replyCode ?? ParseCode(bytes);
        _replyCode = null;
        // An AUTH exchange goes on while the server asks for more (334); any other reply ends it.
        _inAuth &= code == 334;
        LastReply = new SmtpReply(code, ReportText.FromWire(_reply.ToArray()));
        ReplyCount++;
        _reply.SetLength(0);
        _replyBytes = 0;
        if (_queueing)
        {
            var kept = _queuedBytes + LastReply.Lines.Length <= MaxQueuedBytes ? LastReply : LastReply with { Lines = FormattableString.Invariant($"{code} (reply text not kept)\n") };
            _queuedBytes += kept.Lines.Length;
            _unclaimed.Enqueue(kept);
            _wellFormed.Enqueue(_replyWellFormed);
        }

        _replyWellFormed = true;

        if (code == 354)
        {
            // The message follows; the client, not the server, has the next word.
            _inData = true;
            _bodyBytes = 0;
            _dotState = 0;
            _lineStart = true;
            _previousCr = false;
        }

        Replied();
    }

    /// <summary>The message starts going out: from now on the clock bounds each write (<see cref="Wrote"/>), not
    /// the replies owed, until <see cref="EndWriting"/>.</summary>
    public void BeginWriting() => _clock.BeginWriting();

    /// <summary>One write completed: the next has <c>timeoutremote</c> of its own.</summary>
    public void Wrote() => _clock.Wrote();

    /// <summary>The last write is done: the replies still owed have <c>timeoutremote</c> from now.</summary>
    public void EndWriting() => _clock.EndWriting();

    private void Expect() => _clock.Expect();

    private void Replied() => _clock.Replied();

    private void GiveUp(string why)
    {
        lock (_gate)
        {
            if (GaveUp is not null)
            {
                return;
            }

            GaveUp = why;
        }

        _transcript?.WriteLine($"giving up the connection: {why}");
        _giveUp?.Invoke();
    }

    /// <summary>Three digits, or -1 (a malformed code is never taken for success).</summary>
    private static int ParseCode(ReadOnlySpan<byte> line) =>
        line.Length >= 3 && char.IsAsciiDigit((char)line[0]) && char.IsAsciiDigit((char)line[1]) && char.IsAsciiDigit((char)line[2])
            ? ((line[0] - '0') * 100) + ((line[1] - '0') * 10) + (line[2] - '0')
            : -1;
}
