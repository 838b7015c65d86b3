#!/usr/bin/env bash
# Whole-process cost of one delivery of a 1 KB message to Postfix's smtp-sink on loopback, through
# a smtproutes literal (no DNS): wall time and peak RSS (/usr/bin/time) of the published binary,
# median, min and max of N runs (default 21). Usage: bench/loopback-delivery.sh [runs]
set -euo pipefail
runs=${1:-21}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${QREMOTE_BINARY:-$root/artifacts/publish/qremote}
[ -x "$bin" ] || { echo "publish first: dotnet cake --target=Publish" >&2; exit 1; }
work=$(mktemp -d -t qremote-bench-XXXXXX)
chmod 755 "$work"
sink=""
cleanup() { [ -n "$sink" ] && kill "$sink" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2",0)); print(s.getsockname()[1])')
user=(); [ "$(id -u)" = 0 ] && user=(-u nobody)
smtp-sink "${user[@]}" 127.0.0.2:"$port" 64 & sink=$!
mkdir -p "$work/qmail/control"
echo bench.test > "$work/qmail/control/me"
echo ":[127.0.0.2]:$port" > "$work/qmail/control/smtproutes"
{ printf 'From: a@bench.test\nTo: b@example.org\nSubject: bench\n\n'; for _ in $(seq 14); do printf '%s\n' "$(head -c 64 /dev/zero | tr '\0' x)"; done; } > "$work/msg"
sleep 0.3
python3 - "$bin" "$work" "$runs" <<'PY'
import subprocess, sys, statistics, os
binary, work, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
walls, rss = [], []
for _ in range(runs):
    with open(f"{work}/msg", "rb") as f:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %M %S %U", "-o", f"{work}/time", binary, f"--qmail-home={work}/qmail",
                            "example.org", "a@bench.test", "b@example.org"], stdin=f, capture_output=True)
    if b"K127.0.0.2" not in p.stdout:
        sys.exit(f"not delivered: {p.stdout!r}")
    e, m, s, u = open(f"{work}/time").read().split()
    rss.append(int(m) / 1024)
import time
for _ in range(runs):
    with open(f"{work}/msg", "rb") as f:
        t = time.perf_counter()
        subprocess.run([binary, f"--qmail-home={work}/qmail", "example.org", "a@bench.test", "b@example.org"], stdin=f, capture_output=True)
        walls.append((time.perf_counter() - t) * 1000)
print(f"message: {os.path.getsize(work + '/msg')} bytes, runs: {runs}")
print(f"wall     median {statistics.median(walls):6.2f} ms  min {min(walls):6.2f}  max {max(walls):6.2f}")
print(f"peak RSS median {statistics.median(rss):6.2f} MB  min {min(rss):6.2f}  max {max(rss):6.2f}")
PY
