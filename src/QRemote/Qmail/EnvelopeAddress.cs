namespace QRemote.Qmail;

/// <summary>
/// Envelope addresses as qmail-remote puts them on the wire (its addrmangle and quote): split at
/// the last <c>@</c>; the local part is quoted when it is empty, starts or ends with a dot, holds
/// <c>..</c>, or any ASCII character outside qmail's "ok" set; inside the quotes
/// <c>"</c> and <c>\</c> get a backslash. An address without <c>@</c> goes out unchanged (the empty
/// sender becomes <c>&lt;&gt;</c>).
/// <para>Unlike qmail, an address holding CR, LF or NUL is refused: those bytes would end the SMTP
/// command line and let the rest of the address be read as commands.</para>
/// </summary>
internal static class EnvelopeAddress
{
    /// <summary>The wire form, without angle brackets; null when the address cannot be sent safely.</summary>
    public static string? ToWire(string address)
    {
        if (address.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
        {
            return null;
        }

        var at = address.LastIndexOf('@');
        if (at < 0)
        {
            return address;
        }

        var local = address[..at];
        return NeedsQuoting(local) ? Quote(local) + address[at..] : address;
    }

    /// <summary>The domain (after the last <c>@</c>), or null when there is none.</summary>
    public static string? Domain(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? null : address[(at + 1)..];
    }

    /// <summary>True when the address needs SMTPUTF8 (RFC 6531): any character beyond ASCII.</summary>
    public static bool NeedsSmtpUtf8(string address)
    {
        foreach (var c in address)
        {
            if (c > '\x7f')
            {
                return true;
            }
        }

        return false;
    }

    private static bool NeedsQuoting(string local)
    {
        if (local.Length == 0 || local[0] == '.' || local[^1] == '.' || local.Contains("..", StringComparison.Ordinal))
        {
            return true;
        }

        foreach (var c in local)
        {
            // Non-ASCII characters are atext under SMTPUTF8 (RFC 6531 3.3), the only way they can be sent:
            // qmail predates it and quotes them, which RFC 5321 4.1.2 asks clients not to do needlessly.
            if (c < ' ' || c == '\x7f' || c is ' ' or '"' or '(' or ')' or ',' or ':' or ';' or '<' or '>' or '@' or '[' or '\\' or ']')
            {
                return true;
            }
        }

        return false;
    }

    private static string Quote(string local)
    {
        var quoted = new System.Text.StringBuilder(local.Length + 4).Append('"');
        foreach (var c in local)
        {
            if (c is '"' or '\\')
            {
                quoted.Append('\\');
            }

            quoted.Append(c);
        }

        return quoted.Append('"').ToString();
    }
}
