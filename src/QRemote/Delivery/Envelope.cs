using System.Net;
using MailKit.Net.Smtp;
using MimeKit;
using QRemote.Message;
using QRemote.Qmail;
using QRemote.Smtp;

namespace QRemote.Delivery;

/// <summary>
/// The envelope as one server can take it: the sender and the recipients in wire form, each mailbox once (one RCPT
/// for two arguments that name it), and a report already decided for every recipient no RCPT can carry (CR, LF or
/// NUL; not ASCII where the server lacks SMTPUTF8; not SMTP syntax).
/// </summary>
internal sealed class Envelope(MailboxAddress sender, bool needsSmtpUtf8, RecipientReport?[] local, string?[] keys, List<MailboxAddress> mailboxes)
{
    public MailboxAddress Sender { get; } = sender;

    /// <summary>The mailboxes to send RCPT for, in argv order, each once.</summary>
    public IReadOnlyList<MailboxAddress> Mailboxes => mailboxes;

    /// <summary>The sender or a mailbox is not ASCII.</summary>
    public bool NeedsSmtpUtf8 { get; } = needsSmtpUtf8;

    /// <summary>The envelope of <paramref name="invocation"/> for a server that does (or not) offer SMTPUTF8; or, when
    /// the sender cannot be sent, the report that says so (and nothing goes out).</summary>
    public static (Envelope? Envelope, DeliveryReport? Refusal) For(Invocation invocation, bool utf8, IPAddress ip)
    {
        var senderWire = EnvelopeAddress.ToWire(invocation.Sender)!;
        if (!utf8 && EnvelopeAddress.NeedsSmtpUtf8(senderWire))
        {
            return (null, Reports.SenderNeedsSmtpUtf8(ip));
        }

        if (!TryMailbox(senderWire, out var sender))
        {
            return (null, Reports.BadSender());
        }

        var local = new RecipientReport?[invocation.Recipients.Count];
        var keys = new string?[invocation.Recipients.Count];
        var mailboxes = new List<MailboxAddress>();
        for (var i = 0; i < invocation.Recipients.Count; i++)
        {
            var wire = EnvelopeAddress.ToWire(invocation.Recipients[i]);
            if (wire is null)
            {
                local[i] = Reports.BadRecipient();
            }
            else if (!utf8 && EnvelopeAddress.NeedsSmtpUtf8(wire))
            {
                local[i] = Reports.RecipientNeedsSmtpUtf8(ip);
            }
            else if (!TryMailbox(wire, out var mailbox))
            {
                local[i] = Reports.RecipientNotValidSyntax();
            }
            else
            {
                keys[i] = MailboxKey(mailbox.Address);
                if (!mailboxes.Any(m => MailboxKey(m.Address) == keys[i]))
                {
                    mailboxes.Add(mailbox);
                }
            }
        }

        var needsUtf8 = EnvelopeAddress.NeedsSmtpUtf8(senderWire) || mailboxes.Any(m => EnvelopeAddress.NeedsSmtpUtf8(m.Address));
        return (new Envelope(sender, needsUtf8, local, keys, mailboxes), null);
    }

    /// <summary>Whether an envelope that a server without SMTPUTF8 cannot take (<see cref="For"/> gave a refusal, or no
    /// mailbox) would go to one that offers it: then this refusal is one another exchanger may not give.</summary>
    public static bool SendableWithSmtpUtf8(Invocation invocation, IPAddress ip) => For(invocation, utf8: true, ip).Envelope is { Mailboxes.Count: > 0 };

    /// <summary>MAIL's ESMTP parameters, each with a leading space: SMTPUTF8 when an address needs it, BODY=8BITMIME for
    /// 8-bit text, SIZE= whenever the server takes it, REQUIRETLS when the message is under it (RFC 8689; the caller
    /// has checked that the server offers it, over verified TLS).</summary>
    public string MailParameters(MessageFacts facts, SmtpCapabilities capabilities, bool requireTls = false)
    {
        var parameters = new System.Text.StringBuilder();
        if (capabilities.HasFlag(SmtpCapabilities.UTF8) && NeedsSmtpUtf8)
        {
            parameters.Append(" SMTPUTF8");
        }

        if (facts.HasEightBit && capabilities.HasFlag(SmtpCapabilities.EightBitMime))
        {
            parameters.Append(" BODY=8BITMIME");
        }

        if (capabilities.HasFlag(SmtpCapabilities.Size))
        {
            parameters.Append(System.Globalization.CultureInfo.InvariantCulture, $" SIZE={facts.WireLength}");
        }

        if (requireTls)
        {
            parameters.Append(" REQUIRETLS");
        }

        return parameters.ToString();
    }

    /// <summary>One report per argv recipient: the one decided here, else from the server's reply to its mailbox's RCPT
    /// (or "no answer" when the connection ended before it).</summary>
    public IReadOnlyList<RecipientReport> RecipientReports(SendProgress progress, IPAddress ip)
    {
        var replies = new Dictionary<string, SmtpReply>(StringComparer.Ordinal);
        for (var j = 0; j < progress.Recipients.Count && j < mailboxes.Count; j++)
        {
            replies[MailboxKey(mailboxes[j].Address)] = progress.Recipients[j];
        }

        return local.Select((r, i) => r ?? FromReply(replies, keys[i]!, ip)).ToList();
    }

    private static RecipientReport FromReply(Dictionary<string, SmtpReply> replies, string key, IPAddress ip) =>
        replies.TryGetValue(key, out var reply) ? FromRcptReply(reply, ip) : Reports.NoAnswerForRecipient(ip);

    /// <summary>One report per argv recipient from one per mailbox (a delivery split into several transactions,
    /// <see cref="TransactionLedger"/>): the one decided here, else its mailbox's.</summary>
    public IReadOnlyList<RecipientReport> RecipientReports(IReadOnlyList<RecipientReport> perMailbox)
    {
        var byKey = new Dictionary<string, RecipientReport>(StringComparer.Ordinal);
        for (var j = 0; j < mailboxes.Count; j++)
        {
            byKey[MailboxKey(mailboxes[j].Address)] = perMailbox[j];
        }

        return local.Select((r, i) => r ?? byKey[keys[i]!]).ToList();
    }

    /// <summary>A recipient's report from the reply to its RCPT.</summary>
    public static RecipientReport FromRcptReply(SmtpReply reply, IPAddress ip) =>
        reply.Code switch
        {
            >= 200 and < 300 => RecipientReport.Accepted,
            >= 500 and < 600 => new RecipientReport(RecipientLetter.Rejected, Reports.RecipientRejected(ip) + Reports.RemoteHostSaid(reply.Lines)),
            _ => new RecipientReport(RecipientLetter.Deferred, Reports.RecipientRejected(ip) + Reports.RemoteHostSaid(reply.Lines)),
        };

    /// <summary>What makes two recipients one mailbox, so one RCPT: the local part as it is (case-sensitive, RFC 5321
    /// 2.4: <c>User@</c> and <c>user@</c> may be two people), the domain in any case.</summary>
    private static string MailboxKey(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? address : string.Concat(address.AsSpan(0, at + 1), address[(at + 1)..].ToLowerInvariant());
    }

    private static bool TryMailbox(string wire, out MailboxAddress mailbox)
    {
        try
        {
            mailbox = new MailboxAddress("", wire);
            return true;
        }
        catch (ParseException)
        {
            mailbox = null!;
            return false;
        }
    }
}
