using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using CsCheck;
using QRemote.Tests.Properties;

namespace QRemote.Fuzz;

/// <summary>
/// Runs the hostile-input invariants of tests/QRemote.Tests/Properties for N generated inputs from a fixed seed:
/// each worker thread t runs executions t, t+T, t+2T, ... from its own PCG stream, so a run is repeatable for a
/// given seed and thread count. Any exception is a crash: the first few are printed with their input in hex,
/// and the exit code is 1. A watchdog ends the run (exit 1) if one execution takes more than 60 s.
/// </summary>
public static class Program
{
    private const ulong DefaultSeed = 20261125;
    private const int CrashesPrinted = 5;
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    public static int Main(string[] args)
    {
        if (args.Length < 2 || !long.TryParse(args[1], NumberStyles.None, CultureInfo.InvariantCulture, out var executions))
        {
            Console.Error.WriteLine("usage: Fuzz dns|smtp|wire|report N [--seed S] [--threads T]");
            return 2;
        }

        var seed = DefaultSeed;
        var threads = Environment.ProcessorCount;
        for (var i = 2; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seed":
                    seed = ulong.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--threads":
                    threads = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}");
                    return 2;
            }
        }

        return args[0] switch
        {
            "dns" => Run(HostileGen.DnsScenarios, s =>
            {
                var outcome = DnsRouteInvariants.Check(s);
                return outcome.Report is null ? "found" : $"{(char)outcome.Report.Letter} {outcome.Report.Text[(outcome.Report.Text.LastIndexOf('(') + 1)..^2]}";
            }, DescribeDns, executions, seed, threads),
            "smtp" => Run(HostileGen.ReplyInputs, r =>
            {
                ReplyInvariants.Check(r);
                return r.Bytes.Length > ReplyInput.BigInput ? "over 64 KiB" : "under 64 KiB";
            }, r => $"chunks {string.Join(",", r.Chunks)}, transcript {r.Transcript}\n{HexCapped(r.Bytes)}", executions, seed, threads),
            "wire" => Run(HostileGen.WireInputs, w =>
            {
                WireInvariants.Check(w);
                return w.DotStuff ? "dot-stuffed" : "not stuffed";
            }, w => w.ToString(), executions, seed, threads),
            "report" => Run(HostileGen.ReportInputs, r =>
            {
                ReportInvariants.Check(r);
                return $"{r.Letters.Length} recipients";
            }, r => r.ToString(), executions, seed, threads),
            _ => Usage(),
        };
    }

    private static int Usage()
    {
        Console.Error.WriteLine("target must be dns, smtp, wire or report");
        return 2;
    }

    private static string DescribeDns(DnsScenario scenario) => scenario.ToString();

    private static string HexCapped(byte[] bytes) =>
        bytes.Length <= 65536 ? Hex.Of(bytes) : $"{Hex.Of(bytes.AsSpan(0, 65536))}... ({bytes.Length} bytes in all)";

    private static int Run<T>(Gen<T> gen, Func<T, string> check, Func<T, string> describe, long executions, ulong seed, int threads)
    {
        var stopwatch = Stopwatch.StartNew();
        long crashes = 0;
        long done = 0;
        var categories = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        var printed = 0;
        var gate = new object();
        var current = new (long Execution, long StartTicks, T? Input)[threads];
        for (var t = 0; t < threads; t++)
        {
            current[t] = (-1, 0, default);
        }

        using var watchdog = new Timer(_ =>
        {
            for (var t = 0; t < threads; t++)
            {
                var (execution, start, input) = current[t];
                if (execution >= 0 && Stopwatch.GetElapsedTime(start) > HangLimit)
                {
                    lock (gate)
                    {
                        Console.WriteLine($"HANG: execution {execution} has run for more than {HangLimit.TotalSeconds} s; input:\n{(input is null ? "?" : describe(input))}");
                        Console.WriteLine($"executions {Interlocked.Read(ref done)}, crashes {Interlocked.Read(ref crashes) + 1}, elapsed {stopwatch.Elapsed.TotalSeconds:0.0} s");
                        Console.Out.Flush();
                        Environment.Exit(1);
                    }
                }
            }
        }, null, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));

        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var pcg = new PCG((uint)t, seed);
            for (var i = (long)t; i < executions; i += threads)
            {
                var input = gen.Generate(pcg, null, out _);
                current[t] = (i, Stopwatch.GetTimestamp(), input);
                try
                {
                    var category = check(input);
                    categories.AddOrUpdate(category, 1, (_, n) => n + 1);
                }
                catch (Exception e)
                {
                    Interlocked.Increment(ref crashes);
                    lock (gate)
                    {
                        if (printed++ < CrashesPrinted)
                        {
                            Console.WriteLine($"CRASH at execution {i} (thread {t}, seed {seed}): {e.GetType().Name}: {e.Message}");
                            if (e.InnerException is { } inner)
                            {
                                Console.WriteLine($"  caused by {inner.GetType().Name}: {inner.Message}\n{inner.StackTrace}");
                            }

                            Console.WriteLine($"input:\n{describe(input)}\n");
                        }
                    }
                }

                current[t] = (-1, 0, default);
                Interlocked.Increment(ref done);
            }
        })
        { IsBackground = true, Name = $"fuzz-{t}" }).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        stopwatch.Stop();

        Console.WriteLine("outcomes: " + string.Join(", ", categories.OrderByDescending(p => p.Value).Select(p => $"{p.Key} {p.Value}")));
        Console.WriteLine($"executions {done}, crashes {crashes}, elapsed {stopwatch.Elapsed.TotalSeconds:0.0} s");
        return crashes == 0 ? 0 : 1;
    }
}
