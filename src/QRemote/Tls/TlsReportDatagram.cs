using System.Net.Sockets;
using System.Text.Json;

namespace QRemote.Tls;

/// <summary>
/// One result as a datagram for sys4's tlsrpt-collectd (the collector Postfix 3.10 feeds through libtlsrpt), written
/// from libtlsrpt's public documentation and the collectd's published parser (docs/tls-reporting.md says what was
/// checked): one JSON object per datagram, <c>{"dpv":"1","d":DOMAIN,"pr":TLSRPT-RECORD,"policies":[{"policy-type":1|2,
/// "policy-domain":...,"policy-string":[...],"mx-host":[...],"failure-details":[{"c":CODE,"s":SENDING-IP,
/// "n":MX-HOST,"r":RECEIVING-IP}],"t":FAILURES,"f":0|1}]}</c>; policy types 1 TLSA and 2 STS, result codes
/// tlsrpt.h's (<see cref="TlsReportResults.LibTlsrptCode"/>); optional members left out when empty, as libtlsrpt does.
/// Sent without blocking on an unconnected datagram socket: a collectd that is down or slow loses the result, never
/// holds up the delivery.
/// </summary>
internal static class TlsReportDatagram
{
    public static byte[] Build(TlsReportEntry entry, string tlsrptRecord)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("dpv", "1");
            json.WriteString("d", entry.PolicyDomain);
            json.WriteString("pr", tlsrptRecord);
            json.WriteStartArray("policies");
            json.WriteStartObject();
            json.WriteNumber("policy-type", entry.PolicyType == TlsReportPolicyType.Tlsa ? 1 : 2);
            json.WriteString("policy-domain", entry.PolicyDomain);
            WriteArray(json, "policy-string", entry.PolicyStrings);
            WriteArray(json, "mx-host", new TlsReportPolicy(entry.PolicyType, entry.PolicyStrings).MxPatterns);
            if (!entry.Succeeded)
            {
                json.WriteStartArray("failure-details");
                json.WriteStartObject();
                json.WriteNumber("c", entry.Result.LibTlsrptCode());
                WriteIfSet(json, "s", entry.SendingIp?.ToString());
                WriteIfSet(json, "n", entry.MxHost);
                WriteIfSet(json, "r", entry.ReceivingIp?.ToString());
                json.WriteEndObject();
                json.WriteEndArray();
            }

            json.WriteNumber("t", entry.Succeeded ? 0 : 1);
            json.WriteNumber("f", entry.Succeeded ? 0 : 1);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>One sendto(2), non-blocking; any failure (no socket, nobody listening, a full queue) throws to the
    /// caller, which drops it.</summary>
    public static void Send(string socketPath, byte[] datagram)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified) { Blocking = false };
        socket.SendTo(datagram, SocketFlags.None, new UnixDomainSocketEndPoint(socketPath));
    }

    private static void WriteArray(Utf8JsonWriter json, string name, IReadOnlyList<string> values)
    {
        if (values.Count == 0)
        {
            return;
        }

        json.WriteStartArray(name);
        foreach (var v in values)
        {
            json.WriteStringValue(v);
        }

        json.WriteEndArray();
    }

    private static void WriteIfSet(Utf8JsonWriter json, string name, string? value)
    {
        if (value is not null)
        {
            json.WriteString(name, value);
        }
    }
}
