using System.Globalization;
using System.Text.Json;
using QRemote.Tls;

namespace QRemote.Report;

/// <summary>
/// One policy domain's results of one UTC day, counted the way RFC 8460 section 4.4 reports them: per policy (type,
/// strings, domain, and for TLSA the MX host, whose records they are), successful and failed sessions, and the failures
/// by result type, sending address, MX host and receiving address. Bounded whatever the spool holds: past
/// <see cref="MaxPolicies"/> policies or <see cref="MaxFailureDetails"/> failure rows per policy, sessions are still
/// counted in the summary (of the last policy kept) but get no row of their own.
/// </summary>
internal sealed class TlsReportAggregate(string domain, DateOnly day)
{
    public const int MaxPolicies = 200;
    public const int MaxFailureDetails = 200;

    private readonly Dictionary<string, PolicyCounts> _policies = new(StringComparer.Ordinal);
    private readonly List<PolicyCounts> _order = [];

    public string Domain { get; } = domain;

    public DateOnly Day { get; } = day;

    public long Successes => _order.Sum(p => p.Successes);

    public long Failures => _order.Sum(p => p.Failures);

    public int PolicyCount => _order.Count;

    public void Add(TlsReportEntry entry)
    {
        var mx = entry.PolicyType == TlsReportPolicyType.Tlsa ? entry.MxHost ?? "" : "";
        var key = string.Join('\n', entry.PolicyType, mx, string.Join('\n', entry.PolicyStrings));
        if (!_policies.TryGetValue(key, out var policy))
        {
            if (_order.Count >= MaxPolicies)
            {
                policy = _order[^1];
            }
            else
            {
                var mxHosts = entry.PolicyType == TlsReportPolicyType.Tlsa
                    ? (entry.MxHost is null ? [] : [entry.MxHost])
                    : new TlsReportPolicy(entry.PolicyType, entry.PolicyStrings).MxPatterns;
                policy = new PolicyCounts(entry.PolicyType, entry.PolicyStrings, mxHosts);
                _policies[key] = policy;
                _order.Add(policy);
            }
        }

        policy.Add(entry);
    }

    /// <summary>The report, as RFC 8460 4.4's JSON, members in the RFC's order.</summary>
    public byte[] ToJson(string organization, string contact, string reportId)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("organization-name", organization);
            json.WriteStartObject("date-range");
            json.WriteString("start-datetime", Stamp(Start));
            json.WriteString("end-datetime", Stamp(Start.AddDays(1).AddSeconds(-1)));
            json.WriteEndObject();
            json.WriteString("contact-info", contact);
            json.WriteString("report-id", reportId);
            json.WriteStartArray("policies");
            foreach (var policy in _order)
            {
                policy.Write(json, Domain);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>The day's first second, UTC.</summary>
    public DateTimeOffset Start => new(Day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);

    private static string Stamp(DateTimeOffset when) => when.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    private sealed class PolicyCounts(TlsReportPolicyType type, IReadOnlyList<string> strings, IReadOnlyList<string> mxHosts)
    {
        private readonly Dictionary<(TlsReportResult, string?, string?, string?), long> _failures = [];
        private readonly List<(TlsReportResult Result, string? Sending, string? Mx, string? Receiving)> _order = [];

        public long Successes { get; private set; }

        public long Failures { get; private set; }

        public void Add(TlsReportEntry entry)
        {
            if (entry.Succeeded)
            {
                Successes++;
                return;
            }

            Failures++;
            var key = (entry.Result, entry.SendingIp?.ToString(), entry.MxHost, entry.ReceivingIp?.ToString());
            if (_failures.TryGetValue(key, out var count))
            {
                _failures[key] = count + 1;
            }
            else if (_order.Count < MaxFailureDetails)
            {
                _failures[key] = 1;
                _order.Add(key);
            }
        }

        public void Write(Utf8JsonWriter json, string domain)
        {
            json.WriteStartObject();
            json.WriteStartObject("policy");
            json.WriteString("policy-type", type == TlsReportPolicyType.Tlsa ? "tlsa" : "sts");
            json.WriteStartArray("policy-string");
            foreach (var s in strings)
            {
                json.WriteStringValue(s);
            }

            json.WriteEndArray();
            json.WriteString("policy-domain", domain);
            if (mxHosts.Count > 0)
            {
                json.WriteStartArray("mx-host");
                foreach (var mx in mxHosts)
                {
                    json.WriteStringValue(mx);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
            json.WriteStartObject("summary");
            json.WriteNumber("total-successful-session-count", Successes);
            json.WriteNumber("total-failure-session-count", Failures);
            json.WriteEndObject();
            json.WriteStartArray("failure-details");
            foreach (var key in _order)
            {
                json.WriteStartObject();
                json.WriteString("result-type", key.Result.Name());
                WriteIfSet(json, "sending-mta-ip", key.Sending);
                WriteIfSet(json, "receiving-mx-hostname", key.Mx);
                WriteIfSet(json, "receiving-ip", key.Receiving);
                json.WriteNumber("failed-session-count", _failures[key]);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        private static void WriteIfSet(Utf8JsonWriter json, string name, string? value)
        {
            if (value is not null)
            {
                json.WriteString(name, value);
            }
        }
    }
}
