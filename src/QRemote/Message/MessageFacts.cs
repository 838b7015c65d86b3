namespace QRemote.Message;

/// <summary>What one pass over the message tells the SMTP layer before anything is sent.</summary>
/// <param name="Length">Bytes in the queued message.</param>
/// <param name="WireLength">Bytes on the wire after CRLF conversion, without dot-stuffing (the BDAT and SIZE= figure).</param>
/// <param name="EndsWithNewline">False for a partial final line (qmail's #5.6.2); true for an empty message.</param>
/// <param name="HasEightBit">Any byte above 127 (BODY=8BITMIME is declared when the server offers it).</param>
/// <param name="TlsRequiredNo">The header has <c>TLS-Required: No</c> (RFC 8689 5; in its first 64 KiB).</param>
/// <param name="RequireTlsEsmtp">The header has <c>Require-TLS-ESMTP: yes</c> (Postfix 3.11's record of MAIL's REQUIRETLS,
/// RFC 8689; in its first 64 KiB): acted on only when <c>control/qremote-requiretls</c> says so.</param>
internal sealed record MessageFacts(long Length, long WireLength, bool EndsWithNewline, bool HasEightBit, bool TlsRequiredNo = false, bool RequireTlsEsmtp = false);
