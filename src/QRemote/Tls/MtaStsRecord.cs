namespace QRemote.Tls;

/// <summary>
/// The <c>_mta-sts.DOMAIN</c> TXT record (RFC 8461 section 3.1): <c>v=STSv1; id=...;</c>, which says a domain
/// has a policy and names its version. Only the id is kept: extensions are ignored, as the RFC asks.
/// </summary>
internal static class MtaStsRecord
{
    /// <summary>The longest id the grammar allows (1*32 ALPHA / DIGIT).</summary>
    public const int MaxIdLength = 32;

    /// <summary>
    /// Whether a TXT record's text (its strings joined) is one of ours at all: it starts with <c>v=STSv1</c> and
    /// then, after optional blanks, a <c>;</c>. Others are discarded before counting (RFC 8461 3.1), so an SPF
    /// record beside it does no harm.
    /// </summary>
    public static bool IsStsRecord(string text)
    {
        if (!text.StartsWith("v=STSv1", StringComparison.Ordinal))
        {
            return false;
        }

        var rest = text.AsSpan(7).TrimStart(" \t");
        return rest.Length > 0 && rest[0] == ';';
    }

    /// <summary>
    /// Parses a record by the grammar <c>"v=STSv1" 1*(*WSP ";" *WSP field) [*WSP ";" *WSP]</c>, a field being
    /// <c>id=</c> 1 to 32 letters or digits, or an extension <c>name=value</c> (name: letter or digit, then up to
    /// 31 letters, digits, <c>_ - .</c>; value: printable ASCII without <c>= ;</c> and space). The first id counts.
    /// </summary>
    /// <returns>The id, or null with <paramref name="error"/> saying why the record is not valid.</returns>
    public static string? ParseId(string text, out string? error)
    {
        if (!IsStsRecord(text))
        {
            error = "does not start with v=STSv1;";
            return null;
        }

        string? id = null;
        var fields = text[7..].Split(';');
        // fields[0] is the blank between "v=STSv1" and the first ";". A final ";" leaves one empty field at the
        // end, which the grammar allows; any other empty field (";;") does not fit it.
        for (var i = 1; i < fields.Length; i++)
        {
            var field = fields[i].Trim(' ', '\t');
            if (field.Length == 0)
            {
                if (i == fields.Length - 1)
                {
                    break;
                }

                error = "an empty field";
                return null;
            }

            var equals = field.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || !MtaStsPolicy.IsFieldName(field.AsSpan(0, equals)))
            {
                error = $"\"{field}\" is not name=value";
                return null;
            }

            var name = field[..equals];
            var value = field[(equals + 1)..];
            if (name == "id")
            {
                if (value.Length is 0 or > MaxIdLength || !value.All(char.IsAsciiLetterOrDigit))
                {
                    error = $"id \"{value}\" is not 1 to {MaxIdLength} letters or digits";
                    return null;
                }

                id ??= value;
            }
            else if (value.Length == 0 || !value.All(c => c is > ' ' and < '\x7f' and not '=' and not ';'))
            {
                error = $"the value of {name} is empty or has a character the grammar forbids";
                return null;
            }
        }

        if (id is null)
        {
            error = "no id";
            return null;
        }

        error = null;
        return id;
    }
}
