using QRemote.Smtp;

namespace QRemote.Delivery;

/// <summary>Where a finished connection may go instead of QUIT, and the hook the daemon needs (null members: none).</summary>
/// <param name="Cache">Keeps a connection whose transaction ended cleanly, under <paramref name="Key"/>.</param>
/// <param name="Key">What must match for reuse: address, port, TLS policy, credentials, source address, HELO name.</param>
/// <param name="BeforeBody">Called right before the message goes out (see <see cref="PipelinedSender"/>).</param>
internal sealed record SessionOptions(ISessionCache? Cache, string Key, Func<Task>? BeforeBody);
