#!/usr/bin/env bash
# Times whole deliveries of the published binary through a real BIND9 (signed zone) to smtp-sink,
# all on loopback: a plain MX domain (answer fits in UDP) and a domain whose signed MX answer is
# over 1232 bytes (UDP truncated, asked again over TCP). Prints median/min/max of N runs and the
# queries BIND logged per delivery. Usage: bench/dns-delivery.sh [runs] (default 21). Root not needed.
set -euo pipefail
runs=${1:-21}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${QREMOTE_BINARY:-$root/artifacts/publish/qremote}
[ -x "$bin" ] || { echo "publish first: dotnet cake --target=Publish" >&2; exit 1; }
work=$(mktemp -d -t qremote-bench-XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dnsport=$(free_port); smtpport=$(free_port)

{
  echo '$TTL 300'
  echo '@ SOA ns.bench.test. h.bench.test. 1 3600 600 86400 300'
  echo '@ NS ns'
  echo 'ns A 127.0.0.1'
  echo 'plain MX 10 mx.plain'
  echo 'mx.plain A 127.0.0.2'
  for i in $(seq 0 39); do echo "big MX $((10+i)) exchanger-with-a-rather-long-name-number-$i.big"; done
  echo 'exchanger-with-a-rather-long-name-number-0.big A 127.0.0.2'
} > "$work/bench.test.zone"
(cd "$work" && dnssec-keygen -q -K "$work" -a RSASHA256 -b 2048 -n ZONE bench.test >/dev/null \
  && dnssec-keygen -q -K "$work" -a RSASHA256 -b 2048 -f KSK -n ZONE bench.test >/dev/null \
  && for k in "$work"/Kbench.test.*.key; do echo "\$INCLUDE $k" >> bench.test.zone; done \
  && dnssec-signzone -q -K "$work" -o bench.test -f bench.test.zone.signed bench.test.zone >/dev/null)
cat > "$work/named.conf" <<CONF
options { directory "$work"; pid-file "$work/named.pid"; listen-on port $dnsport { 127.0.0.1; }; listen-on-v6 { none; };
  recursion no; dnssec-validation no; minimal-responses no; querylog yes; };
controls { };
logging { channel q { stderr; }; category queries { q; }; category default { q; }; };
zone "bench.test." { type primary; file "$work/bench.test.zone.signed"; };
CONF
user=(); [ "$(id -u)" = 0 ] && user=(-u root)
named -g -c "$work/named.conf" -n 1 "${user[@]}" >"$work/named.out" 2>&1 & pids+=($!)
sinkuser=(); [ "$(id -u)" = 0 ] && sinkuser=(-u nobody)
smtp-sink "${sinkuser[@]}" 127.0.0.2:$smtpport 64 & pids+=($!)
for _ in $(seq 100); do grep -q running "$work/named.out" 2>/dev/null && break; sleep 0.05; done
mkdir -p "$work/qmail/control"; echo bench.test > "$work/qmail/control/me"
printf 'nameserver 127.0.0.1#%s\noptions timeout:2 attempts:1\n' "$dnsport" > "$work/resolv.conf"
printf 'Subject: bench\n\n%s\n' "$(head -c 700 /dev/zero | tr '\0' x)" > "$work/msg"

for domain in ${DOMAINS:-plain.bench.test big.bench.test}; do
  before=$(wc -l < "$work/named.out")
  python3 - "$bin" "$work" "$domain" "$smtpport" "$runs" <<'PY'
import subprocess, sys, time, statistics
binary, work, domain, port, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
times = []
for _ in range(runs):
    with open(f"{work}/msg", "rb") as f:
        t = time.perf_counter()
        out = subprocess.run([binary, f"--qmail-home={work}/qmail", f"--resolv-conf={work}/resolv.conf", f"--smtp-port={port}",
                              domain, "s@bench.test", f"r@{domain}"], stdin=f, capture_output=True).stdout
        times.append((time.perf_counter() - t) * 1000)
    if b"K127.0.0.2" not in out:
        sys.exit(f"{domain}: not delivered: {out!r}")
print(f"{domain:18} median {statistics.median(times):6.1f} ms  min {min(times):6.1f}  max {max(times):6.1f}  (n={runs})")
PY
  sleep 0.2
  tail -n +"$((before + 1))" "$work/named.out" | grep 'query:' > "$work/queries" || true
  q=$(wc -l < "$work/queries")
  tcp=$( (awk '{for(i=1;i<=NF;i++) if($i=="IN"){print $(i+2)}}' "$work/queries" | grep -c T) || true)
  echo "  queries per delivery: $(python3 -c "print(round($q/$runs,2))") (of which over TCP: $(python3 -c "print(round($tcp/$runs,2))"))"
  head -"$(( q / runs ))" "$work/queries" | sed 's/^.*query: /    /'
done
