using QRemote.Qmail;

namespace QRemote.Daemon;

/// <summary>A hand-over's end: how it ended, the daemon's report when it gave one, and why (for --verbose).</summary>
internal sealed record DaemonResult(DaemonOutcome Outcome, DeliveryReport? Report, string Why);
