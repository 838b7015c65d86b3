#!/usr/bin/env python3
"""Whole-process cost of a delivery, as qmail-rspawn starts one: the `qmail-remote` name (a symlink to the published
binary), `env -` plus the operator's settings, cwd HOME/queue/mess, the message a regular file on stdin. Each child is
started by bench/spawn.c and reaped with wait4(2), so every figure is that one process's own: CPU (user+sys), page faults (minor+major), peak RSS
(ru_maxrss), and wall from fork to reap. Each scenario is reported as the median of N runs and as a ratio to the
floor: a Native AOT hello world (bench/Floor) published with qremote's options, run the same way.

Scenarios: floor; literal ([127.0.0.2], no DNS) to smtp-sink; MX (plain.bench.test through BIND9, signed zone) to
smtp-sink; STARTTLS ([127.0.0.3], a TLS-offering server); hand-over (qremote-daemon running, the MX domain; the
daemon's own CPU per delivery from /proc is shown beside it); with --handover, the same hand-over made by qremote-handover
(the small binary an operator points qmail-remote at while the daemon runs: "handover-bin"), and qremote-handover with
no daemon configured, so it execs qremote for the MX delivery ("fallback-mx": both images' cost, one process); then 200
MX deliveries one at a time and 10 at a time.

Usage: bench/process.py QREMOTE_BINARY FLOOR_BINARY [--handover QREMOTE_HANDOVER_BINARY] [--runs N] [--only a,b] [--json FILE]
(bench/process.sh builds all three; qremote-handover must sit beside qremote, as installed)
Root is not needed (named and smtp-sink run as the caller; as root smtp-sink drops to nobody).
"""
import argparse, json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser()
ap.add_argument("qremote"); ap.add_argument("floor")
ap.add_argument("--handover", default="", help="qremote-handover, published beside qremote")
ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                help="one more variable for every process measured, the floor's too (e.g. a DOTNET_GC setting to try)")
ap.add_argument("--runs", type=int, default=31)
ap.add_argument("--rate-n", type=int, default=200)
ap.add_argument("--only", default="")
ap.add_argument("--json", default="")
ap.add_argument("--keep", action="store_true", help="keep the work directory")
ap.add_argument("--serve", action="store_true", help="start the peers and the daemon, print how to run each scenario by hand "
                "(for strace -c, perf stat, ltrace), and wait for ^C")
args = ap.parse_args()
only = set(filter(None, args.only.split(",")))
work = tempfile.mkdtemp(prefix="qremote-process-")
os.chmod(work, 0o755)
children = []


def free_port(address="127.0.0.1"):
    s = socket.socket(); s.bind((address, 0)); port = s.getsockname()[1]; s.close(); return port


def start(argv, **kw):
    p = subprocess.Popen(argv, **kw); children.append(p); return p


def cleanup():
    for p in reversed(children):
        if p.poll() is None:
            p.terminate()
            try: p.wait(5)
            except subprocess.TimeoutExpired: p.kill()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def wait_port(address, port, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection((address, port), 0.2).close(); return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {address}:{port}")


def qmail_home(name, daemon_socket=None):
    home = f"{work}/{name}"
    os.makedirs(f"{home}/control"); os.makedirs(f"{home}/queue/mess/0"); os.makedirs(f"{home}/queue/lock")
    open(f"{home}/control/me", "w").write("bench.test\n")
    if daemon_socket:
        open(f"{home}/control/qremote-daemon", "w").write(daemon_socket + "\n")
    return home


# --- the peers -------------------------------------------------------------------------------------------------
smtp_port = free_port("127.0.0.2")
sink_user = ["-u", "nobody"] if os.geteuid() == 0 else []
start(["smtp-sink", *sink_user, f"127.0.0.2:{smtp_port}", "256"])

dns_port = free_port()
zone = f"{work}/bench.test.zone"
with open(zone, "w") as z:
    z.write("$TTL 300\n@ SOA ns.bench.test. h.bench.test. 1 3600 600 86400 300\n@ NS ns\nns A 127.0.0.1\n"
            "plain MX 10 mx.plain\nmx.plain A 127.0.0.2\n")
for flags in ([], ["-f", "KSK"]):
    subprocess.run(["dnssec-keygen", "-q", "-K", work, "-a", "RSASHA256", "-b", "2048", *flags, "-n", "ZONE", "bench.test"],
                   cwd=work, check=True, stdout=subprocess.DEVNULL)
with open(zone, "a") as z:
    for k in sorted(f for f in os.listdir(work) if f.startswith("Kbench.test.") and f.endswith(".key")):
        z.write(f"$INCLUDE {work}/{k}\n")
subprocess.run(["dnssec-signzone", "-q", "-K", work, "-o", "bench.test", "-f", f"{zone}.signed", zone], cwd=work, check=True,
               stdout=subprocess.DEVNULL)
open(f"{work}/named.conf", "w").write(f"""options {{ directory "{work}"; pid-file "{work}/named.pid"; listen-on port {dns_port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }}; recursion no; dnssec-validation no; minimal-responses no; }};
controls {{ }};
logging {{ channel q {{ stderr; severity warning; }}; category default {{ q; }}; }};
zone "bench.test." {{ type primary; file "{zone}.signed"; }};
""")
named_user = ["-u", "root"] if os.geteuid() == 0 else []
start(["named", "-g", "-c", f"{work}/named.conf", "-n", "1", *named_user], stderr=open(f"{work}/named.out", "w"))
resolv = f"{work}/resolv.conf"
open(resolv, "w").write(f"nameserver 127.0.0.1#{dns_port}\noptions timeout:2 attempts:1\n")

# The STARTTLS peer: a small server in a process of its own (bench/starttls-sink.py), so its CPU is not the driver's.
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{work}/key.pem", "-out", f"{work}/cert.pem",
                "-subj", "/CN=bench.test", "-days", "2"], check=True, stderr=subprocess.DEVNULL)
tls_port = free_port("127.0.0.3")
start([sys.executable, f"{here}/starttls-sink.py", "127.0.0.3", str(tls_port), f"{work}/cert.pem", f"{work}/key.pem"])

for address, port in (("127.0.0.2", smtp_port), ("127.0.0.3", tls_port)):
    wait_port(address, port)
for _ in range(200):
    if "running" in open(f"{work}/named.out").read() or subprocess.run(
            ["dig", "+short", "-p", str(dns_port), "@127.0.0.1", "mx.plain.bench.test"], capture_output=True).stdout.strip():
        break
    time.sleep(0.05)

# --- the programs, as qmail-rspawn runs them -------------------------------------------------------------------
bindir = f"{work}/bin"; os.makedirs(bindir)
os.symlink(os.path.abspath(args.qremote), f"{bindir}/qmail-remote")
os.symlink(os.path.abspath(args.qremote), f"{bindir}/qremote-daemon")
small_bindir = f"{work}/bin-handover"; os.makedirs(small_bindir)
if args.handover:
    os.symlink(os.path.abspath(args.handover), f"{small_bindir}/qmail-remote")
msg = f"{work}/msg"
open(msg, "wb").write(b"From: a@bench.test\nTo: b@plain.bench.test\nSubject: bench\nMessage-Id: <1@bench.test>\n\n"
                      + b"x" * 60 + b"\n")  # 138 bytes, the size the issue measured with

env = {"PATH": "/usr/bin:/bin", "QREMOTE_RESOLV_CONF": resolv, "QREMOTE_SMTP_PORT": str(smtp_port)}
env.update(e.split("=", 1) for e in args.env)
home = qmail_home("qmail")
sock_dir = f"{work}/run"; os.makedirs(sock_dir); os.chmod(sock_dir, 0o700)
daemon_home = qmail_home("qmail-daemon", f"{sock_dir}/qremote.sock")


spawn = f"{work}/spawn"
subprocess.run([os.environ.get("CC", "cc"), "-O2", "-o", spawn, f"{here}/spawn.c"], check=True)


def run_once(argv, cwd, environment, expect=None):
    """One process through bench/spawn.c, reaped with wait4: (cpu ms, page faults, peak RSS MB, wall ms, stdout)."""
    p = subprocess.run([spawn, cwd, msg, *argv], env=environment, capture_output=True)
    cpu, faults, rss, wall, status = (int(x) for x in p.stderr.split())
    if expect is not None and expect not in p.stdout:
        sys.exit(f"{argv}: unexpected output {p.stdout!r}")
    return cpu / 1000, faults, rss / 1024, wall / 1000, p.stdout


def daemon_cpu_ms(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


scenarios = {
    "floor": ([os.path.abspath(args.floor)], f"{home}/queue/mess", b"hello"),
    "literal": ([f"{bindir}/qmail-remote", "[127.0.0.2]", "a@bench.test", "b@example.org"], f"{home}/queue/mess", b"K127.0.0.2"),
    "mx": ([f"{bindir}/qmail-remote", "plain.bench.test", "a@bench.test", "b@plain.bench.test"], f"{home}/queue/mess", b"K127.0.0.2"),
    "starttls": ([f"{bindir}/qmail-remote", "[127.0.0.3]", "a@bench.test", "b@example.org"], f"{home}/queue/mess", b"K127.0.0.3"),
    "handover": ([f"{bindir}/qmail-remote", "plain.bench.test", "a@bench.test", "b@plain.bench.test"], f"{daemon_home}/queue/mess", b"K127.0.0.2"),
}
if args.handover:
    scenarios["handover-bin"] = ([f"{small_bindir}/qmail-remote", "plain.bench.test", "a@bench.test", "b@plain.bench.test"],
                                 f"{daemon_home}/queue/mess", b"K127.0.0.2")
    scenarios["fallback-mx"] = ([f"{small_bindir}/qmail-remote", "plain.bench.test", "a@bench.test", "b@plain.bench.test"],
                                f"{home}/queue/mess", b"K127.0.0.2")
with_daemon = ("handover", "handover-bin")
results = {}
daemon = None
if args.serve:
    # kill PID stops the peers too, as ^C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    daemon = start([f"{bindir}/qremote-daemon", f"--qmail-home={daemon_home}"], env=env, cwd="/", stderr=open(f"{work}/daemon.err", "w"))
    for name, (argv, cwd, expect) in scenarios.items():
        e = env if name != "starttls" else {**env, "QREMOTE_SMTP_PORT": str(tls_port)}
        print(f"{name}: cd {cwd} && env - {' '.join(f'{k}={v}' for k, v in e.items())} {' '.join(argv)} < {msg}", flush=True)
    try:
        while True: time.sleep(3600)
    except KeyboardInterrupt:
        cleanup(); sys.exit(0)
try:
    for name, (argv, cwd, expect) in scenarios.items():
        if only and name not in only and name != "floor":
            continue
        environment = env if name != "starttls" else {**env, "QREMOTE_SMTP_PORT": str(tls_port)}
        extra = ""
        if name in with_daemon and daemon is None:
            daemon = start([f"{bindir}/qremote-daemon", f"--qmail-home={daemon_home}"], env=env, cwd="/",
                           stderr=open(f"{work}/daemon.err", "w"))
            for _ in range(200):
                if os.path.exists(f"{sock_dir}/qremote.sock"): break
                time.sleep(0.05)
            else:
                sys.exit("qremote-daemon did not start: " + open(f"{work}/daemon.err").read())
        for _ in range(3):  # warm: page cache, BIND's first answers, the daemon's cached connection
            run_once(argv, cwd, environment, expect)
        before = daemon_cpu_ms(daemon.pid) if name in with_daemon else 0
        runs = [run_once(argv, cwd, environment, expect) for _ in range(args.runs)]
        if name in with_daemon:
            extra = f"  (daemon: {(daemon_cpu_ms(daemon.pid) - before) / args.runs:.2f} ms CPU per delivery)"
        cpu, faults, rss, wall = (statistics.median(r[i] for r in runs) for i in range(4))
        results[name] = {"cpu_ms": cpu, "page_faults": faults, "peak_rss_mb": rss, "wall_ms": wall, "extra": extra}

    # The rate: N deliveries through BIND to smtp-sink, one at a time, then 10 at a time, no delay between.
    def rate(argv, cwd, expect, parallel):
        n = args.rate_n
        t = time.perf_counter()
        left = list(range(n)); lock = threading.Lock()
        def worker():
            while True:
                with lock:
                    if not left: return
                    left.pop()
                run_once(argv, cwd, env, expect)
        threads = [threading.Thread(target=worker) for _ in range(parallel)]
        for th in threads: th.start()
        for th in threads: th.join()
        return n / (time.perf_counter() - t)
    if not only or "rate" in only:
        for parallel in (1, 10):
            floor_rate = rate(*scenarios["floor"], parallel)
            mx_rate = rate(*scenarios["mx"], parallel)
            results[f"rate{parallel}"] = {"floor_per_s": floor_rate, "mx_per_s": mx_rate}
finally:
    cleanup()

floor = results["floor"]
cpus = os.cpu_count()
print(f"{cpus} CPUs, {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}; "
      f"median of {args.runs} runs each; message {os.path.getsize(msg) if os.path.exists(msg) else 138} bytes")
print(f"{'':12} {'CPU ms':>8} {'x floor':>8} {'faults':>8} {'x floor':>8} {'RSS MB':>7} {'x floor':>8} {'wall ms':>8} {'x floor':>8}")
for name, r in results.items():
    if name.startswith("rate"): continue
    print(f"{name:12} {r['cpu_ms']:8.2f} {r['cpu_ms'] / floor['cpu_ms']:8.2f} {r['page_faults']:8.0f} {r['page_faults'] / floor['page_faults']:8.2f} "
          f"{r['peak_rss_mb']:7.2f} {r['peak_rss_mb'] / floor['peak_rss_mb']:8.2f} {r['wall_ms']:8.2f} {r['wall_ms'] / floor['wall_ms']:8.2f}{r['extra']}")
for parallel in (1, 10):
    if f"rate{parallel}" in results:
        r = results[f"rate{parallel}"]
        print(f"rate, {args.rate_n} MX deliveries {parallel:2} at a time: {r['mx_per_s']:7.1f}/s  (floor {r['floor_per_s']:7.1f}/s, "
              f"ratio {r['mx_per_s'] / r['floor_per_s']:.2f})")
if args.json:
    json.dump(results, open(args.json, "w"), indent=1)
