using System.Net;
using System.Text;

namespace QRemote.Tests.Infrastructure;

/// <summary>
/// A scripted server that advertises RFC 9422 LIMITS (any text, hostile values included) and enforces limits of its
/// own, as Exim does: past <c>mailMax</c> transactions a MAIL gets 421 and the connection is closed; past <c>rcptMax</c>
/// recipients, or <c>domainMax</c> distinct domains, a RCPT gets 452. Messages are numbered across all its sessions;
/// <c>afterDot</c> answers message n (null: <c>250 2.0.0 queued as n</c>).
/// </summary>
internal sealed class LimitsSmtpServer : IDisposable
{
    private readonly ScriptedSmtpServer _server;
    private int _messages;
    private int _ended;

    public LimitsSmtpServer(IPAddress address, string? advertise, int? mailMax = null, int? rcptMax = null, int? domainMax = null,
        bool pipelining = true, Func<int, string?>? afterDot = null, int? dropAfterMessages = null)
    {
        _server = new ScriptedSmtpServer(address, 0, async s =>
        {
            try
            {
                await Script(s);
            }
            finally
            {
                Interlocked.Increment(ref _ended);
            }
        });

        async Task Script(ScriptedSession s)
        {
            await s.SendAsync("220 limits.test ESMTP\r\n");
            var mails = 0;
            var sessionMessages = 0;
            var rcpts = 0;
            var domains = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            string? line;
            while ((line = await s.ReadLineAsync()) is not null)
            {
                if (line.StartsWith("EHLO ", StringComparison.Ordinal))
                {
                    var ehlo = new StringBuilder("250-limits.test\r\n");
                    if (pipelining)
                    {
                        ehlo.Append("250-PIPELINING\r\n");
                    }

                    if (advertise is not null)
                    {
                        ehlo.Append(advertise).Append("\r\n");
                    }

                    await s.SendAsync(ehlo.Append("250 HELP\r\n").ToString());
                }
                else if (line.StartsWith("MAIL FROM:", StringComparison.Ordinal))
                {
                    if (dropAfterMessages is { } drop && sessionMessages >= drop)
                    {
                        return;
                    }

                    if (++mails > mailMax)
                    {
                        await s.SendAsync("421 4.7.0 too many transactions\r\n");
                        return;
                    }

                    rcpts = 0;
                    domains.Clear();
                    await s.SendAsync("250 2.1.0 ok\r\n");
                }
                else if (line.StartsWith("RCPT TO:", StringComparison.Ordinal))
                {
                    var domain = line[(line.LastIndexOf('@') + 1)..].TrimEnd('>');
                    if (rcpts >= rcptMax)
                    {
                        await s.SendAsync("452 4.5.3 too many recipients\r\n");
                    }
                    else if (!domains.Contains(domain) && domains.Count >= domainMax)
                    {
                        await s.SendAsync("452 4.5.3 too many domains\r\n");
                    }
                    else
                    {
                        rcpts++;
                        domains.Add(domain);
                        await s.SendAsync("250 2.1.5 ok\r\n");
                    }
                }
                else if (line == "DATA")
                {
                    if (rcpts == 0)
                    {
                        await s.SendAsync("554 5.5.1 no valid recipients\r\n");
                        continue;
                    }

                    await s.SendAsync("354 go ahead\r\n");
                    if (!await s.ReadDataAsync())
                    {
                        return;
                    }

                    sessionMessages++;
                    var n = Interlocked.Increment(ref _messages);
                    rcpts = 0;
                    domains.Clear();
                    await s.SendAsync(afterDot?.Invoke(n) ?? $"250 2.0.0 queued as {n}\r\n");
                }
                else if (line == "RSET")
                {
                    rcpts = 0;
                    domains.Clear();
                    await s.SendAsync("250 2.0.0 reset\r\n");
                }
                else if (line == "QUIT")
                {
                    await s.SendAsync("221 2.0.0 bye\r\n");
                    return;
                }
                else
                {
                    await s.SendAsync("500 5.5.1 what\r\n");
                }
            }
        }
    }

    public int Port => _server.EndPoint.Port;

    /// <summary>Messages accepted after the dot, across sessions.</summary>
    public int Messages => Volatile.Read(ref _messages);

    public IReadOnlyList<ScriptedSession> Sessions => _server.Sessions;

    /// <summary>What the client sent in each session, once each session has ended (the client's QUIT or close is read).</summary>
    public IReadOnlyList<string> Received(int sessions)
    {
        WaitFor.Condition(() => Sessions.Count == sessions && Volatile.Read(ref _ended) == sessions, $"{sessions} sessions, each ended");
        return Sessions.Select(s => s.Received).ToList();
    }

    public void Dispose() => _server.Dispose();
}
