namespace QRemote.Daemon;

/// <summary>The delivery process left, or did not confirm the commit; the daemon stops that delivery before its
/// message goes out.</summary>
internal sealed class ClientGoneException(string why, Exception? inner = null) : Exception(why, inner);
