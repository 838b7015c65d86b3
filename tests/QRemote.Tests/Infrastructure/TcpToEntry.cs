using System.Net;

namespace QRemote.Tests.Infrastructure;

/// <summary>One record in use (count &gt; 0), as decoded from the file by <see cref="TcpToFile"/>.</summary>
internal sealed record TcpToEntry(int Index, IPAddress Address, int Count, long When);
