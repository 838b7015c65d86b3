using ARSoft.Tools.Net.Dns;

namespace QRemote.Dns;

/// <summary>
/// Answers kept across deliveries by a long-running process (<c>qremote-daemon</c>), for as long as their
/// TTLs allow: the smallest TTL of the answer and authority records, at most <see cref="LongestPositive"/>; a
/// negative answer (NXDOMAIN, NODATA) for its SOA's negative-caching time (RFC 2308 5: the smaller of the SOA's
/// TTL and its MINIMUM field), at most <see cref="LongestNegative"/>. Temporary failures are never kept.
/// <para>
/// Bounded in bytes, not answers: an answer may be 64 KiB on the wire and several times that once parsed, and
/// bounces to domains an attacker chooses would otherwise fill a count-bounded cache with the largest answers
/// they can make. Each entry is charged <see cref="EstimateBytes"/>; past <see cref="MaxBytes"/> the least
/// recently used entries go. Least recently used, not soonest-expiring or oldest: an attacker's answers are
/// asked for once, while the exchangers of the domains mail really goes to are asked for again and again and
/// stay at the front; soonest-expiring would let an attacker with long TTLs keep their answers and push out the
/// big providers' short-TTL ones, and oldest-first would drop the busiest entries as readily as the junk.
/// </para>
/// <para>
/// Keyed by resolver as well as name and type: answers from one set of nameservers are never given to a
/// delivery that was configured with another (<see cref="ResolverKey"/>).
/// </para>
/// </summary>
internal sealed class DnsCache
{
    /// <summary>
    /// The default budget. The daemon's working set is a few thousand domains a day; a typical answer (an MX set,
    /// its addresses, a TLSA or TXT record) is charged 1 to 3 KiB, so 32 MiB keeps some 10,000 to 30,000 of
    /// them, while the most an attacker's 64 KiB answers can take is the same
    /// 32 MiB, a small part of what one delivery's TLS and MailKit buffers cost on a busy daemon.
    /// </summary>
    public const long DefaultMaxBytes = 32L * 1024 * 1024;

    /// <summary>What an answer costs beyond its records: the entry, its key and list node, the message object.</summary>
    private const int EntryOverhead = 512;

    /// <summary>What a parsed record costs beyond its presentation text: the record, its DomainName and labels.</summary>
    private const int RecordOverhead = 384;

    /// <summary>The resolver key of the overloads that do not say: answers kept through them are only ever given
    /// back through them.</summary>
    public const string UnnamedResolver = "";

    public static readonly TimeSpan LongestPositive = TimeSpan.FromDays(1);

    /// <summary>RFC 2308 7.1 suggests one to three hours; Unbound's cache-max-negative-ttl is an hour: a name that
    /// comes into being (a new domain's MX) is seen within that.</summary>
    public static readonly TimeSpan LongestNegative = TimeSpan.FromHours(1);

    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Dictionary<Key, LinkedListNode<Entry>> _index = [];

    /// <summary>Most recently used first.</summary>
    private readonly LinkedList<Entry> _recency = new();

    private long _bytes;

    public DnsCache(TimeProvider time, long maxBytes = DefaultMaxBytes)
    {
        _time = time ?? throw new ArgumentNullException(nameof(time));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxBytes);
        MaxBytes = maxBytes;
    }

    public long MaxBytes { get; }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _index.Count;
            }
        }
    }

    /// <summary>What the kept answers are charged, in total (never more than <see cref="MaxBytes"/>).</summary>
    public long Bytes
    {
        get
        {
            lock (_lock)
            {
                return _bytes;
            }
        }
    }

    /// <summary>Who answered: the ordered list of nameservers with their ports. Two configurations with the same list
    /// ask the same servers in the same order and share answers; any other difference keeps them apart.</summary>
    public static string ResolverKey(ResolverConfig resolver)
    {
        return string.Join(" ", resolver.Servers.Select(s => s.ToString()));
    }

    public DnsAnswer? Get(string name, RecordType type) => Get(UnnamedResolver, name, type);

    public void Put(string name, RecordType type, DnsAnswer answer) => Put(UnnamedResolver, name, type, answer);

    public DnsAnswer? Get(ResolverConfig resolver, string name, RecordType type) => Get(ResolverKey(resolver), name, type);

    public void Put(ResolverConfig resolver, string name, RecordType type, DnsAnswer answer) => Put(ResolverKey(resolver), name, type, answer);

    public DnsAnswer? Get(string resolver, string name, RecordType type)
    {
        var key = new Key(resolver, name, type);
        lock (_lock)
        {
            if (!_index.TryGetValue(key, out var node))
            {
                return null;
            }

            if (node.Value.Expires <= _time.GetUtcNow())
            {
                Remove(node);
                return null;
            }

            _recency.Remove(node);
            _recency.AddFirst(node);
            return node.Value.Answer;
        }
    }

    public void Put(string resolver, string name, RecordType type, DnsAnswer answer)
    {
        if (TimeToKeep(answer, type) is not { } ttl)
        {
            return;
        }

        var cost = EstimateBytes(answer);
        if (cost > MaxBytes)
        {
            return;
        }

        var key = new Key(resolver, name, type);
        lock (_lock)
        {
            if (_index.TryGetValue(key, out var old))
            {
                Remove(old);
            }

            var node = _recency.AddFirst(new Entry(key, answer, _time.GetUtcNow() + ttl, cost));
            _index[key] = node;
            _bytes += cost;
            while (_bytes > MaxBytes && _recency.Last is { } last)
            {
                Remove(last);
            }
        }
    }

    /// <summary>How long <paramref name="answer"/> to a question of <paramref name="type"/> is kept, with the caps
    /// applied; null when it is not kept at all (a temporary failure, no TTL to go by, a TTL of zero).</summary>
    public static TimeSpan? TimeToKeep(DnsAnswer answer, RecordType type)
    {
        if (answer.Status == DnsStatus.TemporaryFailure || answer.Message is not { } message || TimeToLive(message) is not { } ttl || ttl <= TimeSpan.Zero)
        {
            return null;
        }

        // Negative: NXDOMAIN, or nothing of the asked type (NODATA, perhaps behind a CNAME).
        var negative = answer.Status == DnsStatus.NoSuchName || !message.AnswerRecords.Any(r => r.RecordType == type);
        var longest = negative ? LongestNegative : LongestPositive;
        return ttl < longest ? ttl : longest;
    }

    /// <summary>How long <paramref name="message"/> may be kept by its own TTLs (before the caps); null when it says
    /// nothing about that.</summary>
    public static TimeSpan? TimeToLive(DnsMessage message)
    {
        var records = message.AnswerRecords.Concat(message.AuthorityRecords).Where(r => r.RecordType != RecordType.Opt).ToList();
        if (message.AnswerRecords.Count == 0)
        {
            // Negative: the SOA's TTL, capped by its negative-caching field (RFC 2308 5).
            var soa = message.AuthorityRecords.OfType<SoaRecord>().FirstOrDefault();
            return soa is null ? null : TimeSpan.FromSeconds(Math.Min(soa.TimeToLive, soa.NegativeCachingTTL));
        }

        return records.Count == 0 ? null : TimeSpan.FromSeconds(records.Min(r => r.TimeToLive));
    }

    /// <summary>
    /// What an answer is charged: its records as parsed objects, estimated from their presentation text (two bytes a
    /// character, as .NET keeps strings) plus a fixed cost for each record and for the entry. Checked against the
    /// managed heap in DnsCacheTests (The_charge_covers_what_the_parsed_answers_really_take_on_the_heap).
    /// </summary>
    public static long EstimateBytes(DnsAnswer answer)
    {
        var bytes = EntryOverhead + (2L * answer.Detail.Length);
        if (answer.Message is { } message)
        {
            foreach (var record in message.AnswerRecords.Concat(message.AuthorityRecords).Concat(message.AdditionalRecords))
            {
                bytes += RecordOverhead + (2L * record.ToString().Length);
            }

            foreach (var question in message.Questions)
            {
                bytes += RecordOverhead + (2L * question.Name.ToString().Length);
            }
        }

        return bytes;
    }

    private void Remove(LinkedListNode<Entry> node)
    {
        _recency.Remove(node);
        _index.Remove(node.Value.Key);
        _bytes -= node.Value.Cost;
    }

    private readonly record struct Key(string Resolver, string Name, RecordType Type);

    private sealed record Entry(Key Key, DnsAnswer Answer, DateTimeOffset Expires, long Cost);
}
