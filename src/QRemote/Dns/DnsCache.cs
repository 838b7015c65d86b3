using System.Collections.Concurrent;
using ARSoft.Tools.Net.Dns;

namespace QRemote.Dns;

/// <summary>
/// Answers kept across deliveries by a long-running process (<c>qremote --daemon</c>), for as long as their
/// TTLs allow: the smallest TTL of the answer and authority records; a negative answer (NXDOMAIN, NODATA) for
/// its SOA's negative-caching time (RFC 2308). Temporary failures are never kept. At most a day, and at most
/// <see cref="MaxEntries"/> answers (the oldest-expiring are dropped first when full).
/// </summary>
public sealed class DnsCache(TimeProvider time)
{
    public const int MaxEntries = 10_000;
    private static readonly TimeSpan Longest = TimeSpan.FromDays(1);
    private readonly ConcurrentDictionary<(string, RecordType), (DnsAnswer Answer, DateTimeOffset Expires)> _answers = new();

    public int Count => _answers.Count;

    public DnsAnswer? Get(string name, RecordType type)
    {
        if (_answers.TryGetValue((name, type), out var entry))
        {
            if (entry.Expires > time.GetUtcNow())
            {
                return entry.Answer;
            }

            _answers.TryRemove((name, type), out _);
        }

        return null;
    }

    public void Put(string name, RecordType type, DnsAnswer answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        if (answer.Status == DnsStatus.TemporaryFailure || answer.Message is not { } message || TimeToLive(message) is not { } ttl || ttl <= TimeSpan.Zero)
        {
            return;
        }

        if (_answers.Count >= MaxEntries)
        {
            foreach (var old in _answers.OrderBy(e => e.Value.Expires).Take(MaxEntries / 10).ToList())
            {
                _answers.TryRemove(old.Key, out _);
            }
        }

        _answers[(name, type)] = (answer, time.GetUtcNow() + (ttl < Longest ? ttl : Longest));
    }

    /// <summary>How long <paramref name="message"/> may be kept; null when it says nothing about that.</summary>
    public static TimeSpan? TimeToLive(DnsMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var records = message.AnswerRecords.Concat(message.AuthorityRecords).Where(r => r.RecordType != RecordType.Opt).ToList();
        if (message.AnswerRecords.Count == 0)
        {
            // Negative: the SOA's TTL, capped by its negative-caching field (RFC 2308 5).
            var soa = message.AuthorityRecords.OfType<SoaRecord>().FirstOrDefault();
            return soa is null ? null : TimeSpan.FromSeconds(Math.Min(soa.TimeToLive, soa.NegativeCachingTTL));
        }

        return records.Count == 0 ? null : TimeSpan.FromSeconds(records.Min(r => r.TimeToLive));
    }
}
