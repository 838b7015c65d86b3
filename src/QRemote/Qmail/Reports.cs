using System.Net;
using System.Text;

namespace QRemote.Qmail;

/// <summary>
/// The catalogue: every report text QRemote writes, in one place. Texts and codes are
/// netqmail 1.06's for the same situation, so qmail-send's logs and bounces read as operators
/// know them; the few of our own (null MX, bad addresses, message too large) are marked.
/// Server replies follow as <c>Remote host said: </c> and the reply lines with their codes.
/// </summary>
internal static class Reports
{
    // ---- before any connection ------------------------------------------------------------
    public static DeliveryReport InvokedImproperly() => Fail("I (qmail-remote) was invoked improperly. (#5.3.5)\n");

    public static DeliveryReport UnableToReadControlFiles() => Defer("Unable to read control files. (#4.3.0)\n");

    public static DeliveryReport UnableToReadMessage() => Defer("Unable to read message. (#4.3.0)\n");

    public static DeliveryReport OutOfMemory() => Defer("Out of memory. (#4.3.0)\n");

    public static DeliveryReport ResourcesUnavailable() => Defer("System resources temporarily unavailable. (#4.3.0)\n");

    /// <summary>Ours: SIGTERM or SIGINT before the delivery had an outcome.</summary>
    public static DeliveryReport Stopped() => Defer("QRemote was stopped by a signal before the delivery finished. (#4.3.0)\n");

    /// <summary>Ours: a setting (an option, a QREMOTE_ variable) cannot be read. Never a bounce: the operator can mend it.</summary>
    public static DeliveryReport BadSetting(string why) => Defer($"QRemote: {ReportText.Sanitize(why)}. (#4.3.0)\n");

    /// <summary>Ours: an argument holds bytes that are not UTF-8. .NET would read them as U+FFFD and another address
    /// would go out; qmail passes the bytes, which SMTP cannot carry without SMTPUTF8's UTF-8 anyway.</summary>
    public static DeliveryReport ArgumentNotUtf8() =>
        Defer("Sorry, an address holds bytes that are not UTF-8; QRemote does not guess what they mean. (#4.3.0)\n");

    /// <summary>Ours: the process failed in a way it did not foresee; every such failure is a retry, never a bounce.</summary>
    public static DeliveryReport UnexpectedFailure() => Defer("QRemote failed unexpectedly; the delivery will be retried. (#4.3.0)\n");

    public static DeliveryReport PartialFinalLine() => Fail("SMTP cannot transfer messages with partial final lines. (#5.6.2)\n");

    /// <summary>Ours: netqmail would put the bytes on the wire (SMTP command injection); we refuse.</summary>
    public static DeliveryReport BadSender() =>
        Fail("Sorry, the envelope sender contains a character SMTP cannot carry (CR, LF or NUL). (#5.1.7)\n");

    // ---- DNS ----------------------------------------------------------------------------------
    /// <summary>NXDOMAIN. The name is shown with every byte outside 33..126 as <c>?</c>, as netqmail's outsafe.</summary>
    public static DeliveryReport NoSuchHost(string host) => Fail($"Sorry, I couldn't find any host named {OutSafe(host)}. (#5.1.2)\n");

    public static DeliveryReport DnsTemporaryFailure() => Defer("Sorry, I couldn't find any host by that name. (#4.1.2)\n");

    public static DeliveryReport CnameTemporaryFailure() => Defer("CNAME lookup failed temporarily. (#4.4.3)\n");

    public static DeliveryReport NoAddress() => Fail("Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n");

    /// <summary>Ours (RFC 7505): the domain publishes a null MX, it accepts no mail.</summary>
    public static DeliveryReport NullMx(string host) =>
        Fail($"Sorry, {OutSafe(host)} does not accept mail: it publishes a null MX. (#5.1.10)\n");

    public static DeliveryReport MxIsMe() => Fail(
        "Sorry. Although I'm listed as a best-preference MX or A for that host,\n" +
        "it isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n");

    // ---- connection -----------------------------------------------------------------------------
    public static DeliveryReport NoConnection() => Defer("Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n");

    public static DeliveryReport ConnectionDied(IPAddress ip, bool possibleDuplicate, IReadOnlyList<RecipientReport> recipients) =>
        new(recipients, MessageLetter.Deferred,
            $"Connected to {Host(ip)} but connection died. {(possibleDuplicate ? "Possible duplicate! " : "")}(#4.4.2)\n");

    public static string GreetingFailed(IPAddress ip) => $"Connected to {Host(ip)} but greeting failed.\n";

    public static string NameRejected(IPAddress ip) => $"Connected to {Host(ip)} but my name was rejected.\n";

    public static string SenderRejected(IPAddress ip) => $"Connected to {Host(ip)} but sender was rejected.\n";

    public static string RecipientRejected(IPAddress ip) => $"{Host(ip)} does not like recipient.\n";

    /// <summary>Ours (RFC 6531): the sender's address is not ASCII and the server does not offer SMTPUTF8; nothing was sent.</summary>
    public static DeliveryReport SenderNeedsSmtpUtf8(IPAddress ip) =>
        Fail($"Connected to {Host(ip)} but the sender address needs SMTPUTF8, which it does not offer. (#5.6.7)\n");

    /// <summary>Ours (RFC 6531): this recipient's address is not ASCII and the server does not offer SMTPUTF8.</summary>
    public static RecipientReport RecipientNeedsSmtpUtf8(IPAddress ip) =>
        new(RecipientLetter.Rejected, $"{Host(ip)} does not offer SMTPUTF8, which this address needs. (#5.6.7)\n");

    /// <summary>Ours: MimeKit cannot express the address (a domain like <c>x..y</c>), so no RCPT can carry it.</summary>
    public static RecipientReport RecipientNotValidSyntax() =>
        new(RecipientLetter.Rejected, "Sorry, this recipient address is not valid SMTP syntax. (#5.1.3)\n");

    /// <summary>Ours: the connection ended (or the server fell silent) before this recipient's RCPT had its reply.</summary>
    public static RecipientReport NoAnswerForRecipient(IPAddress ip) =>
        new(RecipientLetter.Deferred, $"{Host(ip)} gave no answer for this recipient.\n");

    /// <summary>Ours (RFC 9422): the server's LIMITS MAILMAX had this delivery open as many connections as one delivery
    /// may (<c>SmtpTransaction.MaxConnections</c>); the recipients left are deferred, not tried.</summary>
    public static RecipientReport TransactionsPerConnectionExhausted(IPAddress ip) =>
        new(RecipientLetter.Deferred,
            $"{Host(ip)} takes few transactions per connection (LIMITS MAILMAX) and this delivery opened as many connections as it may; this recipient was not tried. (#4.5.3)\n");

    public static DeliveryReport GivingUp(IPAddress ip, IReadOnlyList<RecipientReport> recipients) =>
        new(recipients, MessageLetter.Failed, $"Giving up on {Host(ip)}.\n");

    /// <summary>Ours (RFC 1870): the server advertised a SIZE limit the message exceeds; nothing was sent.</summary>
    public static DeliveryReport TooLarge(IPAddress ip, long size, uint limit) => Fail(
        $"Connected to {Host(ip)} but the message ({size} bytes) is larger than it accepts (SIZE {limit}). (#5.3.4)\n");

    /// <summary>Ours: verified TLS is required (control/tlshosts) and the server does not offer STARTTLS.</summary>
    public static DeliveryReport TlsNotOffered(IPAddress ip, string policy) => Defer(
        $"Connected to {Host(ip)} but it does not offer STARTTLS, which {policy} requires. (#4.7.1)\n");

    /// <summary>Ours: verified TLS is required (control/tlshosts, DANE, MTA-STS, or an smtproutes route with credentials:
    /// "the system trust roots in BUNDLE (smtproutes credentials)") and the handshake or the certificate failed; never
    /// plain text, and for credentials never the password: the handshake is refused before AUTH.</summary>
    public static DeliveryReport TlsNotVerified(IPAddress ip, string policy, string why) => Defer(
        $"Connected to {Host(ip)} but its TLS certificate did not verify against {policy} ({ReportText.Sanitize(why)}). (#4.7.1)\n");

    /// <summary>Ours (RFC 8689): the message is under REQUIRETLS (docs/tls.md) and this exchanger has no verified TLS policy;
    /// it was not tried. The delivery's report only when every exchanger refused it so.</summary>
    public static DeliveryReport RequireTlsNoPolicy(string exchanger) => Fail(
        $"Sorry, {OutSafe(exchanger)} has no verified TLS policy (DANE, MTA-STS enforce or control/tlshosts): REQUIRETLS support required (RFC 8689). (#5.7.30)\n");

    /// <summary>Ours (RFC 8689): under REQUIRETLS, the server offered no STARTTLS or its certificate did not verify; nothing
    /// was sent.</summary>
    public static DeliveryReport RequireTlsNotVerified(IPAddress ip, string policy, string why) => Fail(
        $"Connected to {Host(ip)} but its TLS did not verify against {policy} ({ReportText.Sanitize(why)}): REQUIRETLS support required (RFC 8689). (#5.7.30)\n");

    /// <summary>Ours (RFC 8689): under REQUIRETLS, verified TLS, and the server does not offer REQUIRETLS; nothing was sent.</summary>
    public static DeliveryReport RequireTlsNotOffered(IPAddress ip) => Fail(
        $"Connected to {Host(ip)} but it does not offer REQUIRETLS: REQUIRETLS support required (RFC 8689). (#5.7.30)\n");

    /// <summary>Ours: every exchanger refused the message before it was sent, but not all for the same reason (one lacks
    /// SMTPUTF8, another REQUIRETLS): a deferral, since no one reason is certain to hold.</summary>
    public static DeliveryReport RefusedForDifferentReasons() => Defer(
        "Sorry, every mail exchanger refused this message before it was sent, not all for the same reason (SMTPUTF8, REQUIRETLS). (#4.4.0)\n");

    /// <summary>Ours: the daemon took the delivery and went away after the message started to go out.</summary>
    public static DeliveryReport DaemonOutcomeUnknown() => Defer(
        "The QRemote daemon went away while sending the message; the outcome is unknown. Possible duplicate! (#4.3.0)\n");

    /// <summary>Ours: a TLS policy (DANE, MTA-STS, smtproutes credentials with nothing to verify the relay) rules out every
    /// exchanger there was; never plain text instead.</summary>
    public static DeliveryReport TlsPolicyUnusable(string why) => Defer(
        $"No mail exchanger can be used under the TLS policy: {ReportText.Sanitize(why)}. (#4.7.5)\n");

    /// <summary>Ours: smtproutes gives credentials, and they are never sent without TLS.</summary>
    public static DeliveryReport AuthWithoutTls(IPAddress ip) => Defer(
        $"Connected to {Host(ip)} but TLS was not established, and AUTH credentials are never sent in plain text. (#4.7.0)\n");

    /// <summary>Ours: the relay offers AUTH, but none of the mechanisms QRemote uses (docs/control-files.md); nothing sent.</summary>
    public static DeliveryReport AuthNoMechanism(IPAddress ip, string offered) => Defer(
        $"Connected to {Host(ip)} but it offers no AUTH mechanism I use (it offers {ReportText.Sanitize(offered)}). (#4.7.0)\n");

    /// <summary>Ours: a relay on port 465 (implicit TLS, RFC 8314) whose handshake failed; there is no plain text to fall back to.</summary>
    public static DeliveryReport ImplicitTlsFailed(IPAddress ip, string why) => Defer(
        $"Connected to {Host(ip)} but the TLS handshake on its implicit-TLS port failed ({ReportText.Sanitize(why)}). (#4.7.0)\n");

    /// <summary>Ours: the relay refused our credentials (a deferral, as Postfix's default: the password may be fixed).</summary>
    public static string AuthFailed(IPAddress ip) => $"Connected to {Host(ip)} but authentication was rejected.\n";

    public static string DataFailed(IPAddress ip) => $"{Host(ip)} failed on DATA command.\n";

    public static string FailedAfterMessage(IPAddress ip) => $"{Host(ip)} failed after I sent the message.\n";

    public static string Accepted(IPAddress ip) => $"{Host(ip)} accepted message.\n";

    // Ours: the last line of a K text says what TLS the message went over, so qmail-send's own log shows it without
    // the JSON log (Postfix logs the same since 3.11). A line of its own keeps qmail's grammar: qmail-send writes each
    // newline of the text as a slash.

    /// <summary>Ours: TLS with the certificate checked, by <paramref name="how"/> (DANE-EE, DANE-TA, MTA-STS, certificate).</summary>
    public static string TlsVerified(string protocol, string how) => $"TLS: {protocol}, {how} verified\n";

    /// <summary>Ours: opportunistic TLS (RFC 7435), the certificate not checked.</summary>
    public static string TlsNotVerified(string protocol) => $"TLS: {protocol}, not verified\n";

    /// <summary>Ours: the server did not offer STARTTLS.</summary>
    public static string TlsNotOffered() => "TLS: none offered\n";

    /// <summary>Ours: control/notlshosts turned TLS off for this exchanger.</summary>
    public static string TlsTurnedOff() => "TLS: none, turned off by control/notlshosts\n";

    /// <summary>Ours: the opportunistic handshake failed, and the message went in plain text on a second connection.</summary>
    public static string TlsHandshakeFailed() => "TLS: none, the handshake failed\n";

    /// <summary>Ours: an address that holds CR, LF or NUL never reaches the wire.</summary>
    public static RecipientReport BadRecipient() =>
        new(RecipientLetter.Rejected, "Sorry, this recipient address contains a character SMTP cannot carry (CR, LF or NUL). (#5.1.3)\n");

    /// <summary>The server's reply as qmail-send shows it: <c>Remote host said: </c> and each line with its code.</summary>
    public static string RemoteHostSaid(string replyLines)
    {
        if (replyLines.Length == 0)
        {
            return "";
        }

        var kept = ReportText.Truncate(replyLines, ReportText.MaxServerTextBytes);
        return "Remote host said: " + kept + (kept.EndsWith('\n') ? "" : "\n");
    }

    /// <summary>The peer as netqmail's outhost shows it: the address, no brackets.</summary>
    public static string Host(IPAddress ip)
    {
        return (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString();
    }

    /// <summary>netqmail's outsafe: bytes outside 33..126 become <c>?</c> (on the UTF-8 form, so one
    /// non-ASCII character becomes as many <c>?</c> as it has bytes).</summary>
    public static string OutSafe(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[i] = bytes[i] is >= 33 and <= 126 ? (char)bytes[i] : '?';
        }

        return new string(chars);
    }

    private static DeliveryReport Fail(string text) => DeliveryReport.MessageOnly(MessageLetter.Failed, text);

    private static DeliveryReport Defer(string text) => DeliveryReport.MessageOnly(MessageLetter.Deferred, text);
}
