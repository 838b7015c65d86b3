namespace QRemote.Smtp;

/// <summary>
/// What a server said about its own limits in its EHLO reply (RFC 9422 LIMITS, sent by Exim 4.98+ and mox): the most
/// transactions it takes on one connection (<c>MAILMAX</c>), recipients in one transaction (<c>RCPTMAX</c>) and distinct
/// recipient domains in one transaction (<c>RCPTDOMAINMAX</c>); null where it said nothing usable.
/// <para>Hostile or broken values never make a delivery impossible, and never let us send more than a limit the server
/// stated validly: each limit is read on its own (RFC 9422 has clients ignore limits they do not know, so one bad item
/// does not void its neighbours); a value must be 1 to 6 ASCII digits (the registry's <c>1*6DIGIT</c>), so negative
/// numbers, signs, numbers past six digits and junk are ignored, and so is 0 (a limit of none would forbid the delivery
/// itself: the server's own refusals decide then); a name without <c>=</c> says nothing; a name given twice, or on two
/// LIMITS lines, counts at its smallest. Names are matched in any case.</para>
/// </summary>
internal sealed record SmtpLimits(int? MailMax, int? RcptMax, int? RcptDomainMax)
{
    public static SmtpLimits None { get; } = new(null, null, null);

    /// <summary>The registry's value syntax: <c>1*6DIGIT</c>.</summary>
    public const int MaxValueDigits = 6;

    /// <summary>The limits from an EHLO reply as the recorder keeps it (each line with its code, then <c>-</c> or a space,
    /// ending in a newline); <see cref="None"/> for a reply without LIMITS, or for none at all. The first line is the
    /// server's name, not a keyword.</summary>
    public static SmtpLimits FromEhlo(string? replyLines)
    {
        var limits = None;
        if (replyLines is null)
        {
            return limits;
        }

        foreach (var line in replyLines.Split('\n').Skip(1))
        {
            if (line.Length < 4)
            {
                continue;
            }

            var text = line[4..];
            var space = text.IndexOf(' ', StringComparison.Ordinal);
            var keyword = space < 0 ? text : text[..space];
            if (keyword.Equals("LIMITS", StringComparison.OrdinalIgnoreCase))
            {
                limits = limits.Smallest(Parse(space < 0 ? "" : text[(space + 1)..]));
            }
        }

        return limits;
    }

    /// <summary>The limits in a LIMITS keyword's parameter (<c>name[=value]</c> items separated by spaces).</summary>
    public static SmtpLimits Parse(string parameter)
    {
        var limits = None;
        foreach (var item in parameter.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = item.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || !TryValue(item.AsSpan(equals + 1), out var value))
            {
                continue;
            }

            var name = item[..equals];
            if (name.Equals("MAILMAX", StringComparison.OrdinalIgnoreCase))
            {
                limits = limits.Smallest(new(value, null, null));
            }
            else if (name.Equals("RCPTMAX", StringComparison.OrdinalIgnoreCase))
            {
                limits = limits.Smallest(new(null, value, null));
            }
            else if (name.Equals("RCPTDOMAINMAX", StringComparison.OrdinalIgnoreCase))
            {
                limits = limits.Smallest(new(null, null, value));
            }
        }

        return limits;
    }

    /// <summary>For the transcript: only what was stated.</summary>
    public override string ToString() =>
        this == None ? "none" : string.Join(' ', new[] { ("MAILMAX", MailMax), ("RCPTMAX", RcptMax), ("RCPTDOMAINMAX", RcptDomainMax) }
            .Where(l => l.Item2 is not null).Select(l => FormattableString.Invariant($"{l.Item1}={l.Item2}")));

    private SmtpLimits Smallest(SmtpLimits other) =>
        new(Min(MailMax, other.MailMax), Min(RcptMax, other.RcptMax), Min(RcptDomainMax, other.RcptDomainMax));

    private static int? Min(int? a, int? b) => a is null ? b : b is null ? a : Math.Min(a.Value, b.Value);

    private static bool TryValue(ReadOnlySpan<char> text, out int value)
    {
        value = 0;
        if (text.Length is 0 or > MaxValueDigits)
        {
            return false;
        }

        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return value > 0;
    }
}
