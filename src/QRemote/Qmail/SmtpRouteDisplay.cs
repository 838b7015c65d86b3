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
}
