using System.Globalization;
using System.Net;
using System.Text.Json;

namespace QRemote.Tls;

/// <summary>
/// One recorded result: one line of the TLS report spool, a compact JSON object (docs/tls-reporting.md):
/// <c>{"time":"2026-12-07T11:50:02Z","policy-type":"tlsa","policy-string":["3 1 1 ..."],"policy-domain":"example.org",
/// "mx-host":"mx.example.org","sending-ip":"192.0.2.1","receiving-ip":"198.51.100.7","result":"success"}</c>.
/// The keys are RFC 8460's where it has one. Written by delivery processes, read back by <c>qremote --tls-report</c>,
/// which trusts nothing in it (<see cref="TryParse"/>).
/// </summary>
/// <param name="MxHost">The exchanger; null for a failure before any exchanger (an MTA-STS policy that could not be fetched).</param>
internal sealed record TlsReportEntry(DateTimeOffset Time, TlsReportPolicyType PolicyType, IReadOnlyList<string> PolicyStrings, string PolicyDomain,
    string? MxHost, IPAddress? SendingIp, IPAddress? ReceivingIp, TlsReportResult Result)
{
    /// <summary>A line longer than this is not one QRemote wrote: it is skipped unread.</summary>
    public const int MaxLineBytes = 64 * 1024;

    /// <summary>At most this many policy strings in an entry (a TLSA RRset or a policy's lines; more is not ours).</summary>
    public const int MaxPolicyStrings = 100;

    private static readonly JsonWriterOptions Compact = new() { Indented = false, SkipValidation = false };

    public bool Succeeded => Result == TlsReportResult.Success;

    /// <summary>The line, its newline included: UTF-8, one JSON object, control characters escaped, so it is one line.</summary>
    public byte[] ToLine()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, Compact))
        {
            json.WriteStartObject();
            json.WriteString("time", Time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
            json.WriteString("policy-type", PolicyType == TlsReportPolicyType.Tlsa ? "tlsa" : "sts");
            json.WriteStartArray("policy-string");
            foreach (var s in PolicyStrings)
            {
                json.WriteStringValue(s);
            }

            json.WriteEndArray();
            json.WriteString("policy-domain", PolicyDomain);
            WriteIfSet(json, "mx-host", MxHost);
            WriteIfSet(json, "sending-ip", SendingIp?.ToString());
            WriteIfSet(json, "receiving-ip", ReceivingIp?.ToString());
            json.WriteString("result", Result.Name());
            json.WriteEndObject();
        }

        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>The entry of one spool line, or null for anything that is not exactly what <see cref="ToLine"/> writes
    /// (junk, a line cut short by a full disk, a field of the wrong type, an unknown result, an address that is not one).</summary>
    public static TlsReportEntry? TryParse(ReadOnlySpan<byte> line)
    {
        if (line.Length is 0 or > MaxLineBytes)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(line.ToArray(), new JsonDocumentOptions { MaxDepth = 4 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || Text(root, "time") is not { } timeText
                || !DateTimeOffset.TryParseExact(timeText, "yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture,
                    DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
                || Text(root, "policy-domain") is not { Length: > 0 and <= 253 } domain
                || !TlsReportResults.TryParse(Text(root, "result"), out var result)
                || !root.TryGetProperty("policy-string", out var strings) || strings.ValueKind != JsonValueKind.Array
                || strings.GetArrayLength() > MaxPolicyStrings)
            {
                return null;
            }

            TlsReportPolicyType type;
            switch (Text(root, "policy-type"))
            {
                case "tlsa":
                    type = TlsReportPolicyType.Tlsa;
                    break;
                case "sts":
                    type = TlsReportPolicyType.Sts;
                    break;
                default:
                    return null;
            }

            var policyStrings = new List<string>();
            foreach (var s in strings.EnumerateArray())
            {
                if (s.ValueKind != JsonValueKind.String)
                {
                    return null;
                }

                policyStrings.Add(s.GetString()!);
            }

            if (!TryAddress(root, "sending-ip", out var sending) || !TryAddress(root, "receiving-ip", out var receiving))
            {
                return null;
            }

            var mx = root.TryGetProperty("mx-host", out var m) ? (m.ValueKind == JsonValueKind.String ? m.GetString() : null) : null;
            if (root.TryGetProperty("mx-host", out _) && mx is not { Length: > 0 and <= 255 })
            {
                return null;
            }

            return new TlsReportEntry(time, type, policyStrings, domain, mx, sending, receiving, result);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static bool TryAddress(JsonElement root, string name, out IPAddress? address)
    {
        address = null;
        if (!root.TryGetProperty(name, out var value))
        {
            return true;
        }

        return value.ValueKind == JsonValueKind.String && IPAddress.TryParse(value.GetString(), out address);
    }

    private static void WriteIfSet(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }
}
