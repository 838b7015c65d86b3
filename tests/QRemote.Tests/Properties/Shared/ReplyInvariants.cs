using System.Text;
using QRemote.Qmail;
using QRemote.Smtp;

namespace QRemote.Tests.Properties;

/// <summary>Bytes from a server, and how they are cut into <see cref="ReplyRecorder.LogServer"/> calls (the sizes
/// are used in turn, again and again; each chunk is passed at an offset inside a larger buffer).</summary>
public sealed record ReplyInput(byte[] Bytes, int[] Chunks, bool Transcript)
{
    /// <summary>Inputs larger than this can reach the recorder's reply size cap.</summary>
    public const int BigInput = ReplyRecorder.MaxReplyBytes;

    public override string ToString() =>
        $"{Bytes.Length} bytes in chunks of {string.Join(",", Chunks)}{(Transcript ? ", with transcript" : "")}: {Hex.Of(Bytes.AsSpan(0, Math.Min(Bytes.Length, 4096)))}{(Bytes.Length > 4096 ? "..." : "")}";
}

/// <summary>
/// <see cref="ReplyRecorder.LogServer"/> on hostile bytes, against a model of RFC 5321 4.2.1 written here
/// independently (lines end at LF, CRs are dropped, a reply ends at a line whose fourth byte is not '-'; a reply
/// of more than <see cref="ReplyRecorder.MaxReplyBytes"/> bytes makes the recorder give the connection up). Holds when:
/// <list type="bullet">
/// <item>nothing throws;</item>
/// <item>fed one byte at a time, the recorder completes the model's replies, and gives up exactly where the
/// model does, calling its give-up action once;</item>
/// <item>a reply whose first line's first three bytes are not all ASCII digits has code -1; any code is -1 or
/// 0..999;</item>
/// <item>a reply's <see cref="SmtpReply.Lines"/> is at most <see cref="ReportText.MaxServerTextBytes"/> UTF-8 bytes
/// counting its newlines (a line is kept with its newline only while the reply's kept bytes stay within 5000, and
/// decoding never makes text longer), empty or ending in a newline, with no control character but newline, no DEL,
/// no C1, no U+FFFD and no lone surrogate (so it encodes as valid UTF-8);</item>
/// <item>fed in chunks, the recorder has, after each chunk, the same reply count and last reply as byte by byte
/// at that point, until either gives up. The size cap is counted per call, not per byte, so in chunks it gives up
/// only where the bytes since the last reply before the chunk exceed the cap, and always once a reply exceeds
/// the cap by more than the largest chunk;</item>
/// <item>with queueing, <see cref="ReplyRecorder.Claim"/> gives the replies back in order (or their code alone past
/// <see cref="ReplyRecorder.MaxQueuedBytes"/>);</item>
/// <item>the transcript is one clean "S: " line per line received (and one line when giving up);</item>
/// <item>the same bytes sent as the client's (<see cref="ReplyRecorder.LogClient"/>, commands or message data) throw
/// nothing and leave a clean transcript.</item>
/// </list>
/// </summary>
public static class ReplyInvariants
{
    public static void Check(ReplyInput input)
    {
        var bytes = input.Bytes;
        var model = Model(bytes);

        // The reference: one byte at a time, noting each reply as it completes.
        var replies = new List<SmtpReply>();
        var countAfter = new int[bytes.Length + 1];
        var giveUps = 0;
        int? gaveUpAt = null;
        using (var single = new ReplyRecorder(null, TimeProvider.System, Timeout.InfiniteTimeSpan, () => giveUps++))
        {
            for (var i = 0; i < bytes.Length; i++)
            {
                single.LogServer(bytes, i, 1);
                if (single.GaveUp is not null)
                {
                    gaveUpAt ??= i;
                }

                if (single.ReplyCount != replies.Count)
                {
                    if (single.ReplyCount != replies.Count + 1 || single.LastReply is null)
                    {
                        throw new InvariantException($"one byte completed {single.ReplyCount - replies.Count} replies");
                    }

                    replies.Add(single.LastReply);
                }

                countAfter[i + 1] = replies.Count;
            }

            if (giveUps != (single.GaveUp is null ? 0 : 1))
            {
                throw new InvariantException($"give-up action called {giveUps} times; GaveUp: {single.GaveUp}");
            }
        }

        if (model.Replies.Count != replies.Count || model.GiveUpAt != gaveUpAt)
        {
            throw new InvariantException($"{replies.Count} replies, giving up at {gaveUpAt?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}; the model says {model.Replies.Count}, {model.GiveUpAt?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}");
        }

        for (var r = 0; r < replies.Count; r++)
        {
            CheckReply(replies[r], model.Replies[r], r);
        }

        // The same bytes in chunks, each at an offset in a buffer with garbage around it.
        var transcript = input.Transcript ? new StringWriter() : null;
        var chunkedGiveUps = 0;
        using (var chunked = new ReplyRecorder(transcript, TimeProvider.System, Timeout.InfiniteTimeSpan, () => chunkedGiveUps++))
        {
            chunked.StartQueueing();
            var position = 0;
            var turn = 0;
            var largest = 0;
            var comparing = true;
            while (position < bytes.Length)
            {
                var size = Math.Clamp(input.Chunks.Length == 0 ? 1 : input.Chunks[turn++ % input.Chunks.Length], 1, bytes.Length - position);
                largest = Math.Max(largest, size);
                var pad = size % 7;
                var buffer = new byte[size + (2 * pad)];
                buffer.AsSpan().Fill((byte)'\n');
                bytes.AsSpan(position, size).CopyTo(buffer.AsSpan(pad));
                var wasGivenUp = chunked.GaveUp is not null;
                chunked.LogServer(buffer, pad, size);
                var start = position;
                position += size;
                if (chunked.GaveUp is not null)
                {
                    if (!wasGivenUp && position - model.LastEndUncapped[start] <= ReplyRecorder.MaxReplyBytes)
                    {
                        throw new InvariantException($"gave up in the chunk {start}..{position}, only {position - model.LastEndUncapped[start]} bytes after the last reply before it");
                    }

                    comparing = false;
                }

                if (gaveUpAt is { } g && position > g)
                {
                    comparing = false;
                }

                if (!comparing)
                {
                    continue;
                }

                var expected = countAfter[position];
                if (chunked.ReplyCount != expected)
                {
                    throw new InvariantException($"after {position} bytes: {chunked.ReplyCount} replies in chunks, {expected} byte by byte");
                }

                if (expected > 0 && chunked.LastReply != replies[expected - 1])
                {
                    throw new InvariantException($"after {position} bytes: last reply {chunked.LastReply} in chunks, {replies[expected - 1]} byte by byte");
                }
            }

            if (model.LongestUncapped > ReplyRecorder.MaxReplyBytes + largest && chunked.GaveUp is null)
            {
                throw new InvariantException($"a reply of {model.LongestUncapped} bytes, chunks of at most {largest}, and no giving up");
            }

            if (chunkedGiveUps != (chunked.GaveUp is null ? 0 : 1))
            {
                throw new InvariantException($"give-up action called {chunkedGiveUps} times in chunks");
            }

            if (chunked.GaveUp is null && gaveUpAt is null)
            {
                var queued = 0;
                foreach (var reply in replies)
                {
                    var keep = queued + reply.Lines.Length <= ReplyRecorder.MaxQueuedBytes;
                    var expected = keep ? reply : reply with { Lines = FormattableString.Invariant($"{reply.Code} (reply text not kept)\n") };
                    queued += expected.Lines.Length;
                    var claimed = chunked.Claim(reply.Code);
                    if (claimed != expected)
                    {
                        throw new InvariantException($"claimed {claimed}, expected {expected}");
                    }
                }

                if (chunked.Claim(250) is not null || chunked.Claim(-1) is not null)
                {
                    throw new InvariantException("a reply claimed twice");
                }
            }

            if (transcript is not null)
            {
                CheckClientSide(bytes, input.Chunks, afterData: bytes.Length % 2 == 1);
                var lines = transcript.ToString().Split('\n');
                var received = chunked.GaveUp is null ? bytes.Count(b => b == (byte)'\n') : -1;
                if (lines[^1].Length != 0 || (received >= 0 && lines.Length != received + 1))
                {
                    throw new InvariantException($"transcript has {lines.Length - 1} lines for {received} received");
                }

                foreach (var line in lines[..^1])
                {
                    if (!line.StartsWith("S: ", StringComparison.Ordinal) && !line.StartsWith("giving up the connection: ", StringComparison.Ordinal))
                    {
                        throw new InvariantException($"transcript line {ReportInput.Quote(line)}");
                    }

                    ReportInvariants.CheckClean(line, "transcript line");
                }
            }
        }
    }

    /// <summary>The same hostile bytes as the client's side of the dialogue (after a 354 when <paramref name="afterData"/>),
    /// in chunks: nothing throws, and the transcript is clean.</summary>
    public static void CheckClientSide(byte[] bytes, int[] chunks, bool afterData)
    {
        var transcript = new StringWriter();
        using (var recorder = new ReplyRecorder(transcript))
        {
            if (afterData)
            {
                var go = "354 go ahead\r\n"u8.ToArray();
                recorder.LogServer(go, 0, go.Length);
            }

            var position = 0;
            var turn = 0;
            while (position < bytes.Length)
            {
                var size = Math.Clamp(chunks.Length == 0 ? 1 : chunks[turn++ % chunks.Length], 1, bytes.Length - position);
                recorder.LogClient(bytes, position, size);
                position += size;
            }
        }

        // A client line is cut at CRLF only, so a bare LF inside one goes into the transcript as a line break (our
        // own commands never hold one: addresses with CR or LF are refused before SMTP). Clean is what must hold.
        ReportInvariants.CheckClean(transcript.ToString(), "client transcript");
    }

    private static void CheckReply(SmtpReply reply, byte[] firstLine, int index)
    {
        var firstThreeDigits = firstLine.Length >= 3 && firstLine.Take(3).All(b => b is >= (byte)'0' and <= (byte)'9');
        if (!firstThreeDigits && reply.Code != -1)
        {

            throw new InvariantException($"reply {index} starts {Hex.Of(firstLine.AsSpan(0, Math.Min(3, firstLine.Length)))} (first line {firstLine.Length} bytes) but has code {reply.Code}");
        }

        if (reply.Code is not (-1 or (>= 0 and <= 999)))
        {
            throw new InvariantException($"reply {index} has code {reply.Code}");
        }

        var size = Encoding.UTF8.GetByteCount(reply.Lines);
        if (size > ReportText.MaxServerTextBytes)
        {
            throw new InvariantException($"reply {index} keeps {size} bytes");
        }

        if (reply.Lines.Length > 0 && !reply.Lines.EndsWith('\n'))
        {
            throw new InvariantException($"reply {index} does not end in a newline: {ReportInput.Quote(reply.Lines)}");
        }

        ReportInvariants.CheckClean(reply.Lines, $"reply {index}");
    }

    /// <param name="Replies">Each complete reply's first line as sent (CRs dropped, capped at 5000 bytes).</param>
    /// <param name="GiveUpAt">The byte that makes a reply longer than the cap, if any; nothing completes after it.</param>
    /// <param name="LastEndUncapped">For each position, where the last reply that ended before it ended (ignoring the cap).</param>
    /// <param name="LongestUncapped">The most bytes any reply (or the unfinished tail) spans, ignoring the cap.</param>
    private sealed record ModelResult(List<byte[]> Replies, int? GiveUpAt, int[] LastEndUncapped, int LongestUncapped);

    private static ModelResult Model(byte[] bytes)
    {
        var replies = new List<byte[]>();
        int? giveUpAt = null;
        var lastEnd = new int[bytes.Length + 1];
        var longest = 0;
        var line = new List<byte>();
        byte[]? first = null;
        var end = 0;
        for (var i = 0; i < bytes.Length; i++)
        {
            lastEnd[i] = end;
            var span = i + 1 - end;
            longest = Math.Max(longest, span);
            if (span > ReplyRecorder.MaxReplyBytes && giveUpAt is null)
            {
                giveUpAt = i;
            }

            var b = bytes[i];
            if (b == (byte)'\r')
            {
                continue;
            }

            if (b != (byte)'\n')
            {
                if (line.Count < ReportText.MaxServerTextBytes)
                {
                    line.Add(b);
                }

                continue;
            }

            first ??= [.. line];
            if (line.Count < 4 || line[3] != (byte)'-')
            {
                if (giveUpAt is null)
                {
                    replies.Add(first);
                }

                first = null;
                end = i + 1;
            }

            line.Clear();
        }

        lastEnd[bytes.Length] = end;
        return new ModelResult(replies, giveUpAt, lastEnd, longest);
    }
}
