using System.Diagnostics;
using System.Text;

namespace QRemote.Tests.Infrastructure;

/// <summary>A daemon the tests start (smtp-sink, named, unbound); killed with its process group on dispose.</summary>
internal sealed class ExternalProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ExternalProcess(Process process) => _process = process;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public static ExternalProcess Start(string file, IEnumerable<string> args, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var wrapper = new ExternalProcess(process);
        process.OutputDataReceived += (_, e) => wrapper.Append(e.Data);
        process.ErrorDataReceived += (_, e) => wrapper.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return wrapper;
    }

    /// <summary>Runs a command to completion; throws with its output when it fails.</summary>
    public static string Run(string file, params string[] args)
    {
        var finished = RunToEnd(file, args, new ProcessSetup { Timeout = TimeSpan.FromSeconds(120) });
        if (finished.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {finished.ExitCode}: {finished.Text}{finished.Errors}");
        }

        return finished.Text;
    }

    /// <summary>
    /// Runs a program to its end and returns its exit code, its standard output as bytes (reports carry NULs) and its
    /// standard error. Standard input is a pipe with <see cref="ProcessSetup.Input"/> in it, then closed. Past the
    /// timeout the process tree is killed and this throws.
    /// </summary>
    public static FinishedProcess RunToEnd(string file, IEnumerable<string> args, ProcessSetup? setup = null)
    {
        setup ??= new ProcessSetup();
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (setup.WorkingDirectory is not null)
        {
            info.WorkingDirectory = setup.WorkingDirectory;
        }

        foreach (var (name, value) in setup.Environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {file}");
        var output = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(output);
        var errors = process.StandardError.ReadToEndAsync();
        var input = Task.Run(() =>
        {
            try
            {
                process.StandardInput.BaseStream.Write(setup.Input ?? []);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The program exited without reading all of it: what it did is in its output.
            }
        });
        if (!process.WaitForExit(setup.Timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', info.ArgumentList)} did not finish in {setup.Timeout.TotalSeconds} s");
        }

        input.Wait();
        copy.Wait();
        return new FinishedProcess(process.ExitCode, output.ToArray(), errors.Result);
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
