#!/usr/bin/env python3
"""Runs deliveries for bench/rtt.sh, inside the client namespace, and checks every report.

    rtt-drive.py single   LABEL RTT_MS RUNS     MESSAGE -- CLIENT ARGV...
    rtt-drive.py parallel LABEL RTT_MS N,PAR    MESSAGE -- CLIENT ARGV...
    rtt-drive.py once     LABEL RTT_MS -        MESSAGE -- CLIENT ARGV...

single: one delivery after another (one unmeasured first, to warm the page cache), wall time of
each from fork to exit; prints median/min/max and median/RTT. parallel: N deliveries, PAR at a
time; prints the wall time and the rate. once: one delivery, checked, nothing printed. A report
that is not exactly one accepted recipient and K, or a delivery that takes over 60 s, fails the
run. The last line of output is a tab-separated record for rtt.sh's table.
"""
import concurrent.futures
import os
import re
import resource
import statistics
import subprocess
import sys
import time

ACCEPTED = re.compile(rb"\Ar\0K[0-9a-fA-F.:]+ accepted message\.\nRemote host said: 250[ -][^\0]*\0\Z")


def deliver(argv, message):
    with open(message, "rb") as stdin:
        start = time.perf_counter()
        try:
            p = subprocess.run(argv, stdin=stdin, capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            sys.exit(f"FAILED: {argv[0]} did not finish within 60 s")
        elapsed = time.perf_counter() - start
    if p.returncode != 0 or not ACCEPTED.match(p.stdout):
        sys.exit(f"FAILED: {argv[0]} exit {p.returncode}, report {p.stdout!r}, stderr {p.stderr[-400:]!r}")
    return elapsed


def machine_idle():
    """(idle + iowait jiffies, all jiffies) of every CPU, from /proc/stat."""
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return f[3] + f[4], sum(f)


def main():
    mode, label, rtt, count, message, dashdash, *argv = sys.argv[1:]
    assert dashdash == "--"
    rtt = float(rtt)
    if mode == "once":
        deliver(argv, message)
    elif mode == "single":
        runs = int(count)
        deliver(argv, message)
        times = [deliver(argv, message) * 1000 for _ in range(runs)]
        median = statistics.median(times)
        rtts = f"{median / rtt:.2f}" if rtt > 0 else "-"
        print(f"  {label:9} one delivery: median {median:7.1f} ms  min {min(times):7.1f}  max {max(times):7.1f}  (n={runs})  = {rtts} RTT")
        print(f"@single\t{label}\t{rtt:g}\t{median:.1f}\t{min(times):.1f}\t{max(times):.1f}\t{runs}\t{rtts}")
    else:
        n, par = (int(x) for x in count.split(","))
        idle0, self0, kids0 = machine_idle(), resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        par_bin = os.environ.get("RTT_PAR_BIN")
        if par_bin:
            # bench/rtt-par.c: forks the deliveries as qmail-rspawn does, checks each report the same way.
            p = subprocess.run([par_bin, str(n), str(par), message, *argv], capture_output=True, timeout=600)
            if p.returncode != 0:
                sys.exit(p.stderr.decode(errors="replace") or f"FAILED: rtt-par exit {p.returncode}")
            f = p.stdout.split()
            elapsed, median, p90, worst, client_cpu, driver_cpu = float(f[0]), float(f[2]), float(f[3]), float(f[4]), float(f[5]), float(f[6])
            driver = "the C driver"
        else:
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(par) as pool:
                times = sorted(t * 1000 for t in pool.map(lambda _: deliver(argv, message), range(n)))
            elapsed = time.perf_counter() - start
            self1, kids1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = lambda a, b: (b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime) * 1000 / n
            median, p90, worst = times[n // 2], times[n * 9 // 10], times[-1]
            client_cpu, driver_cpu = cpu(kids0, kids1), cpu(self0, self1)
            driver = "this driver"
        idle1 = machine_idle()
        print(f"  {label:9} {n} deliveries, {par} in parallel: {elapsed:6.2f} s, {n / elapsed:6.1f} msg/s (every report K)")
        # Where the time went: each delivery's wall time (the first PAR open what later ones reuse), the CPU of the
        # client processes and of the driver per delivery, and how idle the machine's CPUs were meanwhile.
        idle = (idle1[0] - idle0[0]) / max(1, idle1[1] - idle0[1])
        print(f"            each: median {median:.1f} ms, 90th {p90:.1f}, max {worst:.1f}; "
              f"CPU per delivery: clients {client_cpu:.1f} ms, {driver} {driver_cpu:.1f} ms; "
              f"CPUs idle {idle:.0%}")
        print(f"@parallel\t{label}\t{rtt:g}\t{n}\t{par}\t{elapsed:.2f}\t{n / elapsed:.1f}")


if __name__ == "__main__":
    main()
