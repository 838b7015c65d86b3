namespace QRemote.Qmail;

/// <summary>One control setting as read: its value and whether it came from a file or a default.</summary>
internal sealed record ControlSetting(string Name, string Value, string Source);
