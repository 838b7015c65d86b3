namespace QRemote.Qmail;

internal static class SmtpRouteDisplay
{
    /// <summary>An smtproutes line as --show-config prints it: the password, if any, as asterisks. Whatever prints the
    /// settings (a terminal, a support ticket, a pipe) never carries a credential.</summary>
    internal static string WithoutPassword(string line)
    {
        var space = line.IndexOfAny([' ', '\t']);
        if (space < 0)
        {
            return line;
        }

        var credentials = line[(space + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        return credentials.Length < 2 ? line : $"{line[..space]} {credentials[0]} ********";
    }

    /// <summary>An authsenders line as --show-config prints it: what follows the second <c>|</c> (the password) as asterisks.</summary>
    internal static string AuthSenderWithoutPassword(string line)
    {
        var bar = line.IndexOf('|', StringComparison.Ordinal);
        var second = bar < 0 ? -1 : line.IndexOf('|', bar + 1);
        return second < 0 ? line : line[..(second + 1)] + "********";
    }
}
