using System.Net.Sockets;

namespace QRemote.Smtp;

/// <summary>A race's outcome: the winner (if any) and every attempt that failed. Endpoints not listed were
/// not tried (or lost the race and were closed): they may be tried later.</summary>
internal sealed record RaceResult(int Winner, Socket? Socket, IReadOnlyList<RaceAttempt> Failed);
