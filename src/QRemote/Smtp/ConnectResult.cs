using System.Net.Sockets;

namespace QRemote.Smtp;

/// <summary>How a connection attempt ended: a connected socket, or why not and whether it was a timeout.</summary>
/// <param name="Socket">The connected socket, or null.</param>
/// <param name="Error">Empty on success; "timed out after Ns", or the socket error's name.</param>
/// <param name="TimedOut">The attempt timed out (ours, or the kernel's ETIMEDOUT): the only failure tcpto counts.</param>
internal readonly record struct ConnectResult(Socket? Socket, string Error, bool TimedOut);
