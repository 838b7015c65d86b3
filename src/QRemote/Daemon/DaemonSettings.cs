namespace QRemote.Daemon;

/// <summary>The settings a delivery is made with; the daemon delivers only for clients whose settings are its own, so
/// a hand-run test with a lab resolver or another qmail home never shares its DNS cache or connections.</summary>
internal sealed record DaemonSettings(string QmailHome, string ResolvConf, int SmtpPort, int HttpsPort)
{
    public static DaemonSettings Of(CommandLine command) => new(Path.TrimEndingDirectorySeparator(Path.GetFullPath(command.QmailHome)), command.ResolvConf, command.SmtpPort, command.HttpsPort);
}
