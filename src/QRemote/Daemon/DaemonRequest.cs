namespace QRemote.Daemon;

/// <summary>One hand-over: where the message starts in the passed descriptor, the client's settings, qmail-remote's argv.</summary>
internal sealed record DaemonRequest(long Start, DaemonSettings Settings, IReadOnlyList<string> Positions);
