namespace QRemote.Smtp;

/// <summary>One finished attempt of a race: which endpoint, and how it ended.</summary>
internal readonly record struct RaceAttempt(int Index, ConnectResult Result);
