namespace QRemote;

/// <summary>What the process is, decided by the name it was started under (argv[0]), never by argv after it:
/// the host argument is the tail of a recipient address that anyone can choose through a bounce
/// (<c>x@--daemon</c>), so no argument qmail-rspawn passes may change what the program does (docs/contract.md).</summary>
internal enum ProgramRole
{
    /// <summary>Any name but the two below, <c>qmail-remote</c> above all (the symlink qmail-rspawn runs):
    /// argv is <c>host sender recip...</c>, read by position only, exactly as qmail-remote(8).</summary>
    QmailRemote,

    /// <summary><c>qremote</c>: a person or a test. Options may come before <c>host</c> (and <c>--</c> ends them);
    /// the person commands (<c>--help</c>, <c>--plan</c>, ...) live here.</summary>
    Person,

    /// <summary><c>qremote-daemon</c>: the resident service (docs/daemon.md); its options only, no delivery argv.</summary>
    Daemon,
}
