using System.Runtime.CompilerServices;
using System.Text;
using MailKit.Net.Smtp;
using QRemote.Message;
using QRemote.Qmail;

namespace QRemote.Smtp;

/// <summary>
/// MAIL, every RCPT and DATA (or <c>BDAT n LAST</c> with the message) in one flight when the server offers
/// PIPELINING (RFC 2920; RFC 3030 allows BDAT in the group), lock-step otherwise. Replaces MailKit's
/// <c>SendAsync</c>, which waits for the MAIL and RCPT replies before DATA or BDAT: one round trip per
/// delivery, measured (bench/rtt.sh: 8 round trips at 40 ms where 7 would do). The connection and its TLS stream,
/// EHLO, STARTTLS and AUTH stay MailKit's. Commands go through MailKit's own stream (reached with an UnsafeAccessor,
/// which Native AOT supports), so the protocol logger (<see cref="ReplyRecorder"/>) sees them; the replies from MAIL on
/// are read here, from the connection beneath it, and parsed by the recorder alone (with their codes, so nothing has to
/// be matched up with MailKit's reading). The hand-off needs MailKit's input buffer empty (<see cref="UnreadInput"/>).
/// </summary>
internal static class PipelinedSender
{
    private const string StreamType = "MailKit.Net.Smtp.SmtpStream, MailKit";

    /// <summary>
    /// The largest message sent with BDAT before the MAIL and RCPT replies. Sending it early saves one round trip;
    /// if the server then refuses the sender or every recipient, the upload was for nothing, and while it lasts the
    /// replies wait. Worth it only while the upload costs no more than the round trip it saves: about one
    /// bandwidth-delay product. 64 KiB is 5 Mbit/s x 100 ms (a slow intercontinental path), fits the socket buffer
    /// Linux gives a connection from the start (net.core.wmem_default 212992 here; tcp_wmem grows from 16 KiB) so
    /// the writes return at once. Larger messages go after
    /// the replies: one round trip more, against an upload of seconds.
    /// </summary>
    public const long FirstFlightBody = 64 * 1024;

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Stream")]
    [return: UnsafeAccessorType(StreamType)]
    private static extern object? SmtpStreamOf(SmtpClient client);

    /// <summary>The connection beneath MailKit's stream (the socket's, or TLS's): the message goes there in large
    /// writes. MailKit's own buffer is 4 KiB: 52,591 sendto calls for 200 MB, measured with strace -c.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Stream")]
    private static extern Stream InnerStreamOf([UnsafeAccessorType(StreamType)] object stream);

    /// <summary>MailKit's command stream (its writes reach <see cref="ReplyRecorder"/>), or null when not connected.</summary>
    internal static Stream? CommandStream(SmtpClient client) => (Stream?)SmtpStreamOf(client);

    /// <summary>The connection beneath <paramref name="commandStream"/>: the SslStream over TLS, else the socket's.</summary>
    internal static Stream Connection(Stream commandStream) => InnerStreamOf(commandStream);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "inputIndex")]
    private static extern ref int InputIndexOf([UnsafeAccessorType(StreamType)] object stream);

    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "inputEnd")]
    private static extern ref int InputEndOf([UnsafeAccessorType(StreamType)] object stream);

    /// <summary>Bytes MailKit has read from the server and not yet parsed: none at the hand-off, since a server speaks
    /// only when asked (RFC 2920 keeps even a pipelining server to that); from then on the replies are read here, from
    /// the connection beneath MailKit's stream, and bytes left in MailKit's buffer would be lost to both.</summary>
    internal static int UnreadInput(SmtpClient client) =>
        SmtpStreamOf(client) is { } smtp ? InputEndOf(smtp) - InputIndexOf(smtp) : 0;

    /// <param name="mailParameters">ESMTP parameters for MAIL (SIZE=, BODY=8BITMIME, SMTPUTF8), each with a leading space.</param>
    /// <param name="recipients">Envelope recipients in wire form, each sent once.</param>
    /// <param name="reuse">A cached connection: RSET goes first, in the same flight, and the message never goes before
    /// the server has answered MAIL and RCPT (a connection that turns out dead then has had nothing that counts).</param>
    /// <param name="beforeBody">Called right before the first byte of the message is written: from then on the
    /// outcome may be unknown if the connection breaks (the daemon tells its client so). It may throw to stop.</param>
    /// <param name="progress">Filled as replies arrive; on an exception it says how far the transaction got.</param>
    public static async Task SendAsync(SmtpClient client, ReplyRecorder recorder, string sender, string mailParameters, IReadOnlyList<string> recipients,
        MessageSource message, bool pipelining, bool chunking, SendProgress progress, CancellationToken cancellationToken,
        bool reuse = false, Func<Task>? beforeBody = null)
    {
        var smtp = SmtpStreamOf(client) ?? throw new InvalidOperationException("not connected");
        if (UnreadInput(client) > 0)
        {
            // The server said something nobody asked for: what would follow could not be matched to the commands.
            throw new SmtpProtocolException("the server sent more than it was asked for before the transaction");
        }

        var flight = new Flight(smtp, recorder, message, progress, beforeBody, cancellationToken);
        progress.Stage = SmtpStage.Mail;
        recorder.StartQueueing();
        var mail = $"MAIL FROM:<{sender}>{mailParameters}";
        var dataNext = pipelining
            ? await flight.PipelinedAsync(mail, recipients, chunking, reuse).ConfigureAwait(false)
            : await flight.LockStepAsync(mail, recipients, chunking, reuse).ConfigureAwait(false);
        if (dataNext)
        {
            await flight.MessageAfterDataAsync().ConfigureAwait(false);
        }
    }

    public static bool IsPositive(SmtpReply reply) => reply is { Code: >= 200 and < 300 };

    /// <summary>One transaction's commands and replies on MailKit's stream, and the message beneath it.</summary>
    private sealed class Flight(object smtp, ReplyRecorder recorder, MessageSource message, SendProgress progress, Func<Task>? beforeBody,
        CancellationToken cancellationToken)
    {
        private readonly Stream _stream = (Stream)smtp;
        private readonly Stream _connection = InnerStreamOf(smtp);
        private readonly byte[] _input = new byte[4096];

        private string Bdat => FormattableString.Invariant($"BDAT {message.Facts.WireLength} LAST");

        /// <summary>One flight: [RSET,] MAIL, every RCPT, then DATA, or BDAT LAST with the message (not on a reused
        /// connection, nor for a message over <see cref="FirstFlightBody"/>: there the message waits for the answers).
        /// True when DATA's reply is in and the message is still to go.</summary>
        public async Task<bool> PipelinedAsync(string mail, IReadOnlyList<string> recipients, bool chunking, bool reuse)
        {
            var bodyNow = chunking && !reuse && message.Facts.WireLength <= FirstFlightBody;
            if (reuse)
            {
                await WriteAsync("RSET").ConfigureAwait(false);
            }

            await WriteAsync(mail).ConfigureAwait(false);
            foreach (var r in recipients)
            {
                await WriteAsync($"RCPT TO:<{r}>").ConfigureAwait(false);
            }

            if (!chunking)
            {
                await WriteAsync("DATA").ConfigureAwait(false);
            }
            else if (bodyNow)
            {
                // The chunk follows its command at once (RFC 3030): a server that refused MAIL or every RCPT still
                // reads it, and says so in its reply to BDAT.
                await WriteAsync(Bdat).ConfigureAwait(false);
                await WriteBodyAsync(dotStuff: false).ConfigureAwait(false);
            }

            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (reuse && !await ResetAcceptedAsync().ConfigureAwait(false))
            {
                // The rest of the flight's replies do not matter: the caller gives the connection up.
                return false;
            }

            progress.Mail = await ReplyAsync().ConfigureAwait(false);
            if (progress.Stage == SmtpStage.Mail)
            {
                progress.Stage = SmtpStage.Rcpt;
            }

            foreach (var _ in recipients)
            {
                progress.Recipients.Add(await ReplyAsync().ConfigureAwait(false));
            }

            if (chunking)
            {
                if (!bodyNow)
                {
                    if (!Accepted())
                    {
                        return false;
                    }

                    await WriteAsync(Bdat).ConfigureAwait(false);
                    await WriteBodyAsync(dotStuff: false).ConfigureAwait(false);
                }

                progress.Final = progress.Data = await ReplyAsync().ConfigureAwait(false);
                return false;
            }

            progress.Data = await ReplyAsync().ConfigureAwait(false);
            return true;
        }

        /// <summary>Each command after the reply to the one before. True when DATA's reply is in and the message is
        /// still to go.</summary>
        public async Task<bool> LockStepAsync(string mail, IReadOnlyList<string> recipients, bool chunking, bool reuse)
        {
            if (reuse)
            {
                await WriteAsync("RSET").ConfigureAwait(false);
                await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                if (!await ResetAcceptedAsync().ConfigureAwait(false))
                {
                    return false;
                }
            }

            progress.Mail = await CommandAsync(mail).ConfigureAwait(false);
            if (!IsPositive(progress.Mail))
            {
                return false;
            }

            progress.Stage = SmtpStage.Rcpt;
            foreach (var r in recipients)
            {
                progress.Recipients.Add(await CommandAsync($"RCPT TO:<{r}>").ConfigureAwait(false));
            }

            if (!Accepted())
            {
                return false;
            }

            progress.Stage = SmtpStage.Data;
            if (chunking)
            {
                await WriteAsync(Bdat).ConfigureAwait(false);
                await WriteBodyAsync(dotStuff: false).ConfigureAwait(false);
                progress.Final = progress.Data = await ReplyAsync().ConfigureAwait(false);
                return false;
            }

            progress.Data = await CommandAsync("DATA").ConfigureAwait(false);
            return true;
        }

        /// <summary>After DATA's reply: the message and the final dot, only after a 354 to a transaction with a sender
        /// and a recipient accepted.</summary>
        public async Task MessageAfterDataAsync()
        {
            if (progress.Data!.Code != 354 || !Accepted())
            {
                // Refused; or 354 after refusing the sender or every recipient (RFC 2920 says a server must refuse DATA
                // then): no message at all, not even an empty one. The caller closes the connection, which aborts it.
                return;
            }

            await WriteBodyAsync(dotStuff: true).ConfigureAwait(false);
            await _stream.WriteAsync(".\r\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            progress.Stage = SmtpStage.AfterDot;
            progress.Final = await ReplyAsync().ConfigureAwait(false);
        }

        private async Task<bool> ResetAcceptedAsync()
        {
            progress.Reset = await ReplyAsync().ConfigureAwait(false);
            return IsPositive(progress.Reset);
        }

        private bool Accepted() => progress.Mail is { } mail && IsPositive(mail) && progress.Recipients.Any(IsPositive);

        private async Task<SmtpReply> CommandAsync(string command)
        {
            await WriteAsync(command).ConfigureAwait(false);
            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            return await ReplyAsync().ConfigureAwait(false);
        }

        /// <summary>The next reply, read from the connection and parsed by the recorder (which also keeps the transcript,
        /// the reply deadline and the size cap): one parser for every reply of the transaction, each with its codes.
        /// A malformed reply, or the end of the connection, is a broken connection.</summary>
        private async Task<SmtpReply> ReplyAsync()
        {
            SmtpReply reply;
            bool wellFormed;
            while (!recorder.TryTake(out reply, out wellFormed))
            {
                var read = await _connection.ReadAsync(_input, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new SmtpProtocolException("The SMTP server unexpectedly disconnected.");
                }

                recorder.LogServer(_input, 0, read);
            }

            return wellFormed ? reply : throw new SmtpProtocolException($"a malformed reply ({ReportText.Sanitize(reply.Lines.Split('\n')[0])})");
        }

        private async Task WriteAsync(string command) =>
            await _stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\r\n"), cancellationToken).ConfigureAwait(false);

        /// <summary>The commands before it leave MailKit's buffer first; then the message, straight to the connection.</summary>
        private async Task WriteBodyAsync(bool dotStuff)
        {
            if (beforeBody is not null)
            {
                await beforeBody().ConfigureAwait(false);
            }

            progress.Stage = SmtpStage.Body;
            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            // Each write is bounded by timeoutremote, not the upload: no reply's clock runs until the last is done.
            recorder.BeginWriting();
            try
            {
                var inner = new WriteClock(InnerStreamOf(smtp), recorder);
                var written = await message.WriteWireFormAsync(inner, dotStuff, cancellationToken).ConfigureAwait(false);
                if (!dotStuff)
                {
                    // BDAT: the chunk is the whole message; nothing follows it.
                    progress.Stage = SmtpStage.AfterDot;
                }

                await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
                recorder.BodyWrittenDirectly(written);
            }
            finally
            {
                recorder.EndWriting();
            }
        }
    }
}

