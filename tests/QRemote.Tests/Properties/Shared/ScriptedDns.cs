using ARSoft.Tools.Net;
using ARSoft.Tools.Net.Dns;
using QRemote.Dns;

namespace QRemote.Tests.Properties;

/// <summary>What the fake server sends for one query: raw bytes as given, or a template rendered for the
/// question asked and then mutated.</summary>
internal sealed record AnswerSpec(byte[]? RawBytes, DnsTemplate Template, int Seed, Mutation[] Mutations)
{
    public static AnswerSpec Raw(byte[] bytes) => new(bytes, default, 0, []);

    public byte[] Render(DomainName name, RecordType type) =>
        RawBytes ?? Mutation.ApplyAll(DnsTemplates.Render(Template, Seed, name.Labels, type), Mutations);

    public override string ToString() => RawBytes is not null
        ? $"raw {Hex.Of(RawBytes)}"
        : $"{Template} seed {Seed}{(Mutations.Length == 0 ? "" : " mutations " + string.Join(" ", Mutations.Select(m => $"({m.Kind},{m.Position},{m.Value})")))}";
}

/// <summary>One DNS scenario: the answers to the queries, in turn (cycling), and whether the fake
/// checks the answer's question the way <see cref="DnsLookup"/> does.</summary>
/// <param name="Answers">The answers to the queries in turn; with <paramref name="AddressAnswers"/>, to the MX queries only.</param>
/// <param name="AddressAnswers">If given, the answers to the A and AAAA queries in turn.</param>
internal sealed record DnsScenario(AnswerSpec[] Answers, bool CheckQuestion, int ShuffleSeed, AnswerSpec[]? AddressAnswers = null)
{
    public override string ToString() =>
        $"check question {CheckQuestion}, shuffle seed {ShuffleSeed}, {(AddressAnswers is null ? "answers" : "MX answers")}:\n  " + string.Join("\n  ", Answers.Select(a => a.ToString()))
        + (AddressAnswers is null ? "" : "\naddress answers:\n  " + string.Join("\n  ", AddressAnswers.Select(a => a.ToString())));
}

/// <summary>
/// A resolver that answers every query with <see cref="DnsMessage.Parse"/> of bytes a test chose, and maps the
/// result as <see cref="DnsLookup"/> maps what ARSoft gives it: a message that does not parse is a failed
/// query (ARSoft gives null, or throws; both become a temporary failure), NOERROR is <see cref="DnsStatus.Ok"/>,
/// NXDOMAIN is <see cref="DnsStatus.NoSuchName"/>, any other code a temporary failure.
/// </summary>
internal sealed class ScriptedDns(DnsScenario scenario) : IDnsLookup
{
    /// <summary>A bound far above what any answer can make the resolver ask (MaxChain per name, three lookups
    /// per exchanger): going past it means the resolver does not stop.</summary>
    public const int MaxQueries = 20_000;

    private readonly List<Asked> _log = [];
    private int _mxQueries;
    private int _addressQueries;

    public IReadOnlyList<Asked> Log
    {
        get
        {
            lock (_log)
            {
                return [.. _log];
            }
        }
    }

    public Task<DnsAnswer> QueryAsync(DomainName name, RecordType type, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        int index;
        AnswerSpec spec;
        lock (_log)
        {
            index = _log.Count;
            if (index >= MaxQueries)
            {
                throw new InvariantException($"more than {MaxQueries} DNS queries: the resolver does not stop asking");
            }

            _log.Add(new Asked(name.ToString(), type, [], DnsStatus.TemporaryFailure, "pending"));
            if (scenario.AddressAnswers is { Length: > 0 } addressAnswers && type != RecordType.Mx)
            {
                spec = addressAnswers[_addressQueries++ % addressAnswers.Length];
            }
            else
            {
                spec = scenario.Answers[(scenario.AddressAnswers is null ? index : _mxQueries++) % scenario.Answers.Length];
            }
        }

        var bytes = spec.Render(name, type);
        var answer = Answer(bytes, name, type, scenario.CheckQuestion);
        lock (_log)
        {
            _log[index] = new Asked(name.ToString(), type, bytes, answer.Status, answer.Detail);
        }

        return Task.FromResult(answer);
    }

    public static DnsAnswer Answer(byte[] bytes, DomainName name, RecordType type, bool checkQuestion)
    {
        DnsMessage message;
        try
        {
            message = DnsMessage.Parse(new ArraySegment<byte>(bytes));
        }
#pragma warning disable CA1031 // ARSoft throws what it throws; DnsLookup turns any of it into a failed query.
        catch (Exception e)
#pragma warning restore CA1031
        {
            return DnsAnswer.Temporary($"{name} {type}: malformed answer ({e.GetType().Name})");
        }

        if (checkQuestion && !(message.Questions.Count == 1 && message.Questions[0].Name.Equals(name) && message.Questions[0].RecordType == type && !message.IsQuery))
        {
            return DnsAnswer.Temporary($"{name} {type}: no answer");
        }

        return message.ReturnCode switch
        {
            ReturnCode.NoError => new DnsAnswer(DnsStatus.Ok, message, "NOERROR"),
            ReturnCode.NxDomain => new DnsAnswer(DnsStatus.NoSuchName, message, "NXDOMAIN"),
            _ => DnsAnswer.Temporary($"{name} {type}: {message.ReturnCode}"),
        };
    }

    public sealed record Asked(string Name, RecordType Type, byte[] Bytes, DnsStatus Status, string Detail)
    {
        public override string ToString() => $"{Name} {Type} -> {Status} ({Detail}): {Hex.Of(Bytes)}";
    }
}

/// <summary>A broken invariant (as opposed to a crash of the code under test, which is any other exception).</summary>
internal sealed class InvariantException : Exception
{
    public InvariantException()
    {
    }

    public InvariantException(string message)
        : base(message)
    {
    }

    public InvariantException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

internal static class Hex
{
    public static string Of(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();

    public static byte[] Parse(string hex)
    {
        return Convert.FromHexString(string.Concat(hex.Where(char.IsAsciiHexDigit)));
    }
}
