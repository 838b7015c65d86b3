using System.Net;
using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using CsCheck;
using QRemote.Dns;
using QRemote.Qmail;
using QRemote.Tests.Infrastructure;

namespace QRemote.Tests.Properties;

/// <summary>DNS, from packet bytes to the route: see <see cref="DnsRouteInvariants"/> for what must hold.</summary>
public sealed class DnsRouteProperties
{
    private static readonly DomainName Example = DomainName.Parse(DnsRouteInvariants.Domain);

    [Test]
    public void Any_answers_give_a_route_or_a_rightly_lettered_failure() =>
        HostileGen.DnsScenarios.Sample(s => { DnsRouteInvariants.Check(s); }, iter: 3000, print: s => s.ToString());

    [Test]
    public void Fully_random_bytes_never_give_D_unless_they_parse_as_an_answer() =>
        Gen.Select(Gen.Byte.Array[0, 700].Array[1, 4], Gen.Bool, Gen.Int, (a, c, seed) => new DnsScenario([.. a.Select(AnswerSpec.Raw)], c, seed))
            .Sample(s => { DnsRouteInvariants.Check(s); }, iter: 1500, print: s => s.ToString());

    /// <summary>The generators reach every kind of outcome (else the property above would prove little).</summary>
    [Test]
    public void The_generated_scenarios_reach_every_outcome()
    {
        var pcg = new PCG(7, 12345);
        var seen = new Dictionary<string, int>();
        for (var i = 0; i < 1500; i++)
        {
            var outcome = DnsRouteInvariants.Check(HostileGen.DnsScenarios.Generate(pcg, null, out _));
            var kind = outcome.Report is null ? "found" : $"{(char)outcome.Report.Letter} {outcome.Report.Text[^9..^1]}";
            seen[kind] = seen.GetValueOrDefault(kind) + 1;
            foreach (var q in outcome.Queries)
            {
                var detail = q.Detail.Contains("malformed", StringComparison.Ordinal) ? "malformed" : q.Status.ToString();
                seen[detail] = seen.GetValueOrDefault(detail) + 1;
            }
        }

        TestContext.Out.WriteLine(string.Join("\n", seen.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}: {p.Value}")));
        Assert.That(seen.Keys, Is.SupersetOf(new[]
        {
            "found", "Z (#4.1.2)", "D (#5.1.2)", "D #5.1.10)", "D (#5.4.4)", "D (#5.4.6)",
            "malformed", "Ok", "NoSuchName", "TemporaryFailure",
        }));
    }

    // ---- the fake and the templates, checked against the resolver's known behaviour ----------------------------

    private static DnsScenario Templates(params DnsTemplate[] templates) =>
        new([.. templates.Select(t => new AnswerSpec(null, t, 1, []))], CheckQuestion: true, ShuffleSeed: 1);

    [Test]
    public void A_valid_mx_answer_behind_a_cname_chain_is_followed()
    {
        var outcome = DnsRouteInvariants.Check(Templates(DnsTemplate.MxBehindCnameChain, DnsTemplate.Addresses));
        Assert.That(outcome.Queries[0].Status, Is.EqualTo(DnsStatus.Ok));
        var message = DnsMessage.Parse(new ArraySegment<byte>(outcome.Queries[0].Bytes));
        Assert.That(message.AnswerRecords.OfType<CNameRecord>(), Is.Not.Empty, "the template has a CNAME chain");
        Assert.That(message.AnswerRecords.OfType<MxRecord>(), Is.Not.Empty, "ending in MX records");
    }

    [Test]
    public void Nxdomain_for_the_mx_is_permanent()
    {
        var outcome = DnsRouteInvariants.Check(Templates(DnsTemplate.NxDomain));
        Assert.That(outcome.Report, Is.EqualTo(Reports.NoSuchHost(DnsRouteInvariants.Domain)));
    }

    [TestCase(DnsTemplate.ServerFailure)]
    [TestCase(DnsTemplate.CnameLoop)]
    public void Server_failure_and_a_cname_loop_are_temporary(DnsTemplate template) =>
        Assert.That(DnsRouteInvariants.Check(Templates(template)).Report, Is.EqualTo(Reports.DnsTemporaryFailure()));

    [Test]
    public void An_answer_that_does_not_parse_is_temporary()
    {
        var outcome = DnsRouteInvariants.Check(DnsRouteInvariants.Replay(false, 1, "00"));
        Assert.That(outcome.Queries[0].Detail, Does.Contain("malformed"));
        Assert.That(outcome.Report, Is.EqualTo(Reports.DnsTemporaryFailure()));
    }

    [Test]
    public void Null_mx_is_permanent() =>
        Assert.That(DnsRouteInvariants.Check(new DnsScenario([new AnswerSpec(null, DnsTemplate.NullMx, 3, [])], true, 1)).Report?.Text, Does.Contain("(#5.1.10)"));

    [Test]
    public void Nodata_for_mx_and_addresses_is_no_address()
    {
        var outcome = DnsRouteInvariants.Check(Templates(DnsTemplate.NoData));
        Assert.That(outcome.Report, Is.EqualTo(Reports.NoAddress()));
        Assert.That(outcome.Queries.Select(q => q.Type), Is.EqualTo(new[] { RecordType.Mx, RecordType.A, RecordType.Aaaa }));
    }

    [Test]
    public void Every_template_parses_unmutated()
    {
        foreach (var template in Enum.GetValues<DnsTemplate>().Where(t => t != DnsTemplate.Truncated))
        {
            for (var seed = 0; seed < 50; seed++)
            {
                foreach (var type in new[] { RecordType.Mx, RecordType.A, RecordType.Aaaa })
                {
                    var bytes = new AnswerSpec(null, template, seed, []).Render(Example, type);
                    var answer = ScriptedDns.Answer(bytes, Example, type, checkQuestion: true);
                    Assert.That(answer.Detail, Does.Not.Contain("malformed").And.Not.Contain("no answer"), $"{template} seed {seed} {type}: {Hex.Of(bytes)}");
                }
            }
        }
    }

    [Test]
    public void Addresses_of_this_host_are_never_destinations()
    {
        // Seeds whose Addresses template lists 127.0.0.1 or 0.0.0.0 for the implicit MX.
        var local = new FixedLocalAddresses(IPAddress.Loopback);
        var found = 0;
        for (var seed = 0; seed < 200; seed++)
        {
            var outcome = DnsRouteInvariants.Check(new DnsScenario([new AnswerSpec(null, DnsTemplate.NoData, seed, []), new AnswerSpec(null, DnsTemplate.Addresses, seed, [])], true, seed));
            if (outcome.Queries.Skip(1).Any(q => q.Status == DnsStatus.Ok && DnsMessage.Parse(new ArraySegment<byte>(q.Bytes)).AnswerRecords.OfType<ARecord>().Any(a => local.IsLocal(a.Address))))
            {
                found++;
                Assert.That(outcome.Report?.Text, Does.Contain("(#5.4.6)"));
            }
        }

        Assert.That(found, Is.GreaterThan(0));
    }
}
