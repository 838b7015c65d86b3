namespace QRemote;

/// <summary>The program names that choose a <see cref="ProgramRole"/>.</summary>
internal static class ProgramRoles
{
    public const string PersonName = "qremote";
    public const string DaemonName = "qremote-daemon";

    /// <summary>The role for argv[0]: its last path component, compared exactly.</summary>
    public static ProgramRole FromArgv0(string? argv0)
    {
        var name = argv0 is null ? "" : argv0[(argv0.LastIndexOf('/') + 1)..];
        return name switch
        {
            PersonName => ProgramRole.Person,
            DaemonName => ProgramRole.Daemon,
            _ => ProgramRole.QmailRemote,
        };
    }
}
