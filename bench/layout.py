#!/usr/bin/env python3
"""Regenerates src/QRemote/Layout/qremote.order, the order ILC lays qremote's managed methods out in (IlcOrderFile in
src/QRemote/QRemote.csproj; docs/performance.md, "Method order from a profile"). Run through bench/layout.sh, which
publishes the unstripped binary this needs.

It starts bench/process.py --serve with that binary (BIND9, smtp-sink, the STARTTLS server, qremote-daemon), runs each
scenario's command line RUNS times under bench/first-touch.c (every managed function of the binary gets an int3; the
trace is the functions the process calls, in the order it first calls them), and writes the functions touched, grouped
by which scenarios touch them (the hand-over's and every delivery's start first, then what literal, MX and STARTTLS
deliveries add, in that order), in first-touch order within a group. The names are the symbols of the binary (nm), which
are ILC's mangled names, the form --order reads. ILC skips a name it does not know, so a stale file costs only layout,
never the build; rerun this after a change that renames or adds methods on a delivery's path.

Usage: bench/layout.py UNSTRIPPED_QREMOTE FLOOR OUT_ORDER_FILE [--runs N]
"""
import argparse, collections, os, re, shlex, signal, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("qremote"); ap.add_argument("floor"); ap.add_argument("out")
ap.add_argument("--runs", type=int, default=5)
args = ap.parse_args()
# Earlier scenarios first: what they touch is laid out before what only later ones add.
scenarios = ["handover", "literal", "mx", "starttls"]

work = tempfile.mkdtemp(prefix="qremote-layout-")
tracer = f"{work}/first-touch"
subprocess.run([os.environ.get("CC", "cc"), "-O2", "-o", tracer, f"{here}/first-touch.c"], check=True)

# The managed code: ILC's __managedcode and __unbox sections. The runtime's own C++ (.text) is the linker's to lay out.
sections = {}
for line in subprocess.run(["readelf", "-SW", args.qremote], capture_output=True, text=True, check=True).stdout.splitlines():
    m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
    if m and m.group(1) in ("__managedcode", "__unbox"):
        sections[m.group(1)] = (int(m.group(2), 16), int(m.group(2), 16) + int(m.group(3), 16))
if len(sections) != 2:
    sys.exit(f"{args.qremote}: no __managedcode/__unbox sections (not a Native AOT binary?)")
names = collections.defaultdict(list)
for line in subprocess.run(["nm", "--defined-only", args.qremote], capture_output=True, text=True, check=True).stdout.splitlines():
    address, kind, name = line.split(" ", 2)
    address = int(address, 16)
    if kind in "tT" and any(low <= address < high for low, high in sections.values()) and not name.startswith("__start___") \
            and not name.startswith("__stop___"):
        names[address].append(name)
if not names:
    sys.exit(f"{args.qremote}: no symbols; publish with -p:StripSymbols=false (bench/layout.sh does)")
open(f"{work}/addresses", "w").write("".join(f"{a:x}\n" for a in sorted(names)))

serve = subprocess.Popen([sys.executable, f"{here}/process.py", args.qremote, args.floor, "--serve"], stdout=subprocess.PIPE,
                         text=True, start_new_session=True)
commands = {}
try:
    while len(commands) < 5:
        line = serve.stdout.readline()
        if not line:
            sys.exit("bench/process.py --serve ended before printing its scenarios")
        name, command = line.rstrip("\n").split(": ", 1)
        commands[name] = command
    time.sleep(1)  # the daemon's socket
    first = {}  # address -> [(scenario, normalized rank)]
    for scenario in scenarios:
        # "cd DIR && env - NAME=VALUE ... PROGRAM ARGS < MESSAGE"
        cd, rest = commands[scenario].split(" && ", 1)
        words = shlex.split(rest)
        stdin = words[-1]; words = words[:-2]
        cwd = shlex.split(cd)[1]
        words = words[2:]  # "env", "-"
        environment = {}
        while "=" in words[0]:
            name, value = words.pop(0).split("=", 1); environment[name] = value
        argv = words
        for run in range(args.runs):
            trace = f"{work}/{scenario}.{run}"
            with open(stdin, "rb") as message:
                p = subprocess.run([tracer, trace, f"{work}/addresses", "--", *argv], cwd=cwd, env=environment, stdin=message,
                                   capture_output=True)
            if b"\0K" not in b"\0" + p.stdout:
                sys.exit(f"{scenario}: the traced delivery did not succeed: {p.stdout!r} {p.stderr!r}")
            hits = [int(x, 16) for x in open(trace)]
            for rank, address in enumerate(hits):
                first.setdefault(address, []).append((scenario, rank / len(hits)))
            print(f"{scenario} run {run + 1}: {len(hits)} functions", file=sys.stderr)
finally:
    os.killpg(serve.pid, signal.SIGTERM)
    serve.wait()


def key(address):
    touched_by = {s for s, _ in first[address]}
    ranks = [r for _, r in first[address]]
    return tuple(s not in touched_by for s in scenarios), sum(ranks) / len(ranks)


ordered = sorted(first, key=key)
size = collections.Counter()
for address in ordered:
    size[tuple(s for s in scenarios if s in {t for t, _ in first[address]})] += 1
with open(args.out, "w") as out:
    out.write("# The order ILC lays out qremote's managed methods in (IlcOrderFile, src/QRemote/QRemote.csproj): the methods\n"
              "# a hand-over and literal, MX and STARTTLS deliveries call, grouped by which of them call each, in first-call\n"
              "# order. Generated by bench/layout.sh from a trace of each (docs/performance.md, \"Method order from a profile\");\n"
              "# regenerate it, do not edit it. ILC skips names it does not know (these comment lines too), so a stale file\n"
              f"# costs layout, never the build. {len(ordered)} functions, {args.runs} runs of each scenario.\n")
    for address in ordered:
        for name in names[address]:
            out.write(name + "\n")
for group, n in size.most_common():
    print(f"{'+'.join(group)}: {n} functions", file=sys.stderr)
print(f"{args.out}: {len(ordered)} functions", file=sys.stderr)
subprocess.run(["rm", "-rf", work])
