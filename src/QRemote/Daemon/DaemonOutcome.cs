namespace QRemote.Daemon;

/// <summary>How a hand-over to the daemon ended.</summary>
internal enum DaemonOutcome
{
    /// <summary>The daemon did not take the delivery (absent, refused, untrusted, slow, silent, or gone before the
    /// client confirmed the commit): the process delivers by itself; nothing that counts was sent.</summary>
    NotUsed,
    /// <summary>The daemon delivered and reported.</summary>
    Reported,
    /// <summary>The daemon was lost after the client confirmed the commit: the outcome is unknown (Z).</summary>
    Unknown,
}
