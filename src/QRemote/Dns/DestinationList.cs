using System.Runtime.CompilerServices;
using QRemote.Qmail;

namespace QRemote.Dns;

/// <summary>
/// The addresses to try, in order, produced as they are needed. For an MX domain the exchangers
/// are resolved a preference level at a time: every name of a level at once, in parallel (A and
/// AAAA); the next level only when every address before it has failed. A domain with forty
/// exchangers costs two lookups, not eighty, when its best exchanger answers, and a slow lookup for
/// a backup exchanger never delays delivery to the primary. (Asking the next level ahead of need
/// would save one lookup, and only when the primary is down, at the price of lookups still in
/// flight when the delivery ends.)
/// <para>The self check (netqmail's ipme) works in the same order: an exchanger that is this host
/// cuts off its level and every later one, and those are never asked for.</para>
/// </summary>
internal sealed class DestinationList
{
    private readonly IReadOnlyList<Destination>? _fixed;
    private readonly IReadOnlyList<(string Name, int Preference)> _exchangers = [];
    private readonly Func<string, Task<(IReadOnlyList<System.Net.IPAddress> Addresses, DnsStatus Status, bool Secure)>>? _lookup;
    private readonly Func<string, int, System.Net.IPAddress, bool, Destination> _destination = null!;
    private readonly ILocalAddresses? _local;
    private readonly Func<DeliveryReport> _noAddressReport = Reports.NoAddress;
    private readonly Action<string> _note = _ => { };

    /// <summary>Already known addresses (a literal, a relay).</summary>
    public DestinationList(IReadOnlyList<Destination> destinations) => _fixed = destinations;

    internal DestinationList(
        IReadOnlyList<(string Name, int Preference)> orderedExchangers,
        Func<string, Task<(IReadOnlyList<System.Net.IPAddress>, DnsStatus, bool)>> lookup,
        Func<string, int, System.Net.IPAddress, bool, Destination> destination,
        ILocalAddresses local,
        Func<DeliveryReport> noAddressReport,
        Action<string> note)
    {
        _exchangers = orderedExchangers;
        _lookup = lookup;
        _destination = destination;
        _local = local;
        _noAddressReport = noAddressReport;
        _note = note;
    }

    /// <summary>Every address, in order.</summary>
    public async IAsyncEnumerable<Destination> EnumerateAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var step in EnumerateGroupsAsync(cancellationToken).ConfigureAwait(false))
        {
            if (step is DestinationStep.Exchanger group)
            {
                foreach (var d in group.Addresses)
                {
                    yield return d;
                }
            }
        }
    }

    /// <summary>An exchanger's address lookup failed temporarily during the last enumeration, though others may have been
    /// yielded: a delivery whose exchangers all refused is then not certain to fail everywhere.</summary>
    public bool TemporaryFailureSeen { get; private set; }

    /// <summary>The addresses in order, one exchanger's at a time (for the connection race between its
    /// IPv6 and IPv4 addresses, and its TLS policy, decided once); when there was none at all, one last step that
    /// says why.</summary>
    public async IAsyncEnumerable<DestinationStep> EnumerateGroupsAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (_fixed is not null)
        {
            var run = new List<Destination>();
            foreach (var d in _fixed)
            {
                if (run.Count > 0 && !string.Equals(run[0].ExchangerName, d.ExchangerName, StringComparison.OrdinalIgnoreCase))
                {
                    yield return new DestinationStep.Exchanger(run);
                    run = [];
                }

                run.Add(d);
            }

            if (run.Count > 0)
            {
                yield return new DestinationStep.Exchanger(run);
            }
            else
            {
                yield return new DestinationStep.NothingToTry(Reports.NoAddress());
            }

            yield break;
        }

        var levels = PreferenceLevels(_exchangers);
        var lookups = new Dictionary<string, Task<(IReadOnlyList<System.Net.IPAddress> Addresses, DnsStatus Status, bool Secure)>>(StringComparer.OrdinalIgnoreCase);
        void Start(int level)
        {
            if (level < levels.Count)
            {
                foreach (var (name, _) in levels[level])
                {
                    if (!lookups.ContainsKey(name))
                    {
                        lookups[name] = _lookup!(name);
                    }
                }
            }
        }

        var yielded = 0;
        var soft = false;
        var self = false;
        for (var level = 0; level < levels.Count && !self; level++)
        {
            Start(level);
            var found = new List<Destination>();
            foreach (var (name, preference) in levels[level])
            {
                var (addresses, status, secure) = await lookups[name].WaitAsync(cancellationToken).ConfigureAwait(false);
                soft |= status == DnsStatus.TemporaryFailure;
                TemporaryFailureSeen |= soft;
                found.AddRange(addresses.Select(a => _destination(name, preference, a, secure)));
            }

            if (found.Any(d => _local!.IsLocal(d.Address)))
            {
                // netqmail's ipme rule: this host at preference P cuts off every exchanger at P or more.
                _note($"this host is an exchanger at preference {levels[level][0].Preference}: it and all after it are cut off");
                self = true;
                break;
            }

            foreach (var group in found.GroupBy(d => d.ExchangerName, StringComparer.OrdinalIgnoreCase))
            {
                var list = group.ToList();
                yielded += list.Count;
                yield return new DestinationStep.Exchanger(list);
            }
        }

        if (yielded == 0)
        {
            yield return new DestinationStep.NothingToTry(self ? Reports.MxIsMe() : soft ? Reports.DnsTemporaryFailure() : _noAddressReport());
        }
    }

    /// <summary>The exchangers grouped by preference, each group in the order its first member came, as GroupBy would
    /// give them. A loop, not <c>GroupBy(...).Select(...)</c>: LINQ's Select on an iterator is a generic virtual call that a
    /// Native AOT process resolves through the runtime type loader the first time, 2% of an MX delivery's CPU
    /// (docs/performance.md).</summary>
    private static List<List<(string Name, int Preference)>> PreferenceLevels(IReadOnlyList<(string Name, int Preference)> exchangers)
    {
        // Indexed by preference, so a hostile answer of thousands of MX records costs one pass, not a search per record.
        var levels = new List<List<(string Name, int Preference)>>();
        var byPreference = new Dictionary<int, List<(string Name, int Preference)>>();
        foreach (var exchanger in exchangers)
        {
            if (!byPreference.TryGetValue(exchanger.Preference, out var level))
            {
                level = [];
                byPreference[exchanger.Preference] = level;
                levels.Add(level);
            }

            level.Add(exchanger);
        }

        return levels;
    }

    /// <summary>Everything, resolved now (for tests).</summary>
    public async Task<IReadOnlyList<Destination>> ToListAsync(CancellationToken cancellationToken) =>
        (await ResolveAllAsync(cancellationToken).ConfigureAwait(false)).Destinations;

    /// <summary>Everything, resolved now (for <c>--plan</c>), with why there is nothing to try when there is not.</summary>
    public async Task<(IReadOnlyList<Destination> Destinations, DeliveryReport? NothingToTry)> ResolveAllAsync(CancellationToken cancellationToken)
    {
        var list = new List<Destination>();
        DeliveryReport? nothing = null;
        await foreach (var step in EnumerateGroupsAsync(cancellationToken).ConfigureAwait(false))
        {
            switch (step)
            {
                case DestinationStep.Exchanger group:
                    list.AddRange(group.Addresses);
                    break;
                case DestinationStep.NothingToTry why:
                    nothing = why.Report;
                    break;
            }
        }

        return (list, nothing);
    }
}
