#!/usr/bin/env bash
# Round trips: QRemote against a lock-step netqmail-style client (bench/LockStep) across an emulated
# network round-trip time. Usage (as root): bench/rtt.sh [rtt_ms ...]   (default: 0 10 40)
#
# How the delay is made. This kernel has no netem and the machine no iptables/NFQUEUE, so:
#   - two network namespaces of the bench's own, a client side (qremote, lockstep) and a server side
#     (BIND9, authoritative for rtt.test, on 10.77.1.53; Postfix's smtp-sink on 10.77.1.25:25 and
#     [fd77:1::25]:25);
#   - in each a persistent TUN device "wire", routed to the other side (IPv4 and IPv6);
#   - a user-space delay line (bench/wire.c, compiled here with cc; bench/wire.py, the same in Python,
#     for the runs that log every packet, or with WIRE=py): it holds both TUN devices and writes every
#     packet read from one into the other RTT/2 later, in order, packets in flight overlapping. Every
#     packet crosses it: DNS over UDP, TCP SYN and SYN-ACK, data, ACKs, FINs.
# The zone: rtt.test MX 10 mx.rtt.test; mx.rtt.test A 10.77.1.25 and AAAA fd77:1::25. BIND sends no
# additional section (minimal-responses yes, as a recursive resolver such as Unbound does), so the
# addresses are asked for; RTT_ADDITIONAL=1 makes BIND send the exchanger's A and AAAA with the MX
# answer (minimal-responses no). RTT_SINK=chunking puts bench/chunk-sink.py, which offers CHUNKING
# (BDAT) and PIPELINING, in smtp-sink's place (smtp-sink offers no CHUNKING).
#
# For each RTT, for qremote (the published AOT binary), daemon (the same, handing deliveries to
# qremote-daemon, which keeps connections and DNS answers; RTT_DAEMON=0 leaves it out) and lockstep
# (bench/LockStep, AOT): (a) one
# delivery at a time, RUNS (21) times: median/min/max wall time and median/RTT; (b) RTT_N (200)
# deliveries, RTT_PAR (10) at a time: the rate. Every report must be one accepted recipient and K,
# or the run fails. Then, at the largest RTT given, one delivery of each with the wire logging every
# packet: the client's flights, to count the round trips (bench/flights.py). Everything started here
# is stopped and both namespaces deleted on exit.
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
rtts=("$@"); [ ${#rtts[@]} -gt 0 ] || rtts=(0 10 40)
runs=${RUNS:-21}; n=${RTT_N:-200}; par=${RTT_PAR:-10}
bin=${QREMOTE_BINARY:-$root/artifacts/publish/qremote}
lockstep=${LOCKSTEP_BINARY:-$root/artifacts/bench/lockstep/lockstep}
[ "$(id -u)" = 0 ] || { echo "rtt.sh needs root (network namespaces)" >&2; exit 1; }
[ -x "$bin" ] || { echo "publish first: dotnet cake --target=Publish" >&2; exit 1; }
for tool in ip named smtp-sink python3; do command -v "$tool" >/dev/null || { echo "rtt.sh needs $tool (bash scripts/install-deps.sh)" >&2; exit 1; }; done
[ -c /dev/net/tun ] || { echo "rtt.sh needs /dev/net/tun" >&2; exit 1; }
if [ ! -x "$lockstep" ]; then
  echo "publishing bench/LockStep to $(dirname "$lockstep")"
  dotnet publish "$root/bench/LockStep/LockStep.csproj" -c Release -o "$(dirname "$lockstep")" >/dev/null
fi

c=qrb-c-$$; s=qrb-s-$$
work=$(mktemp -d -t qremote-rtt-XXXXXX); chmod 755 "$work"
pids=(); wire=""
stop() { [ -n "$1" ] && kill "$1" 2>/dev/null && wait "$1" 2>/dev/null; return 0; }
cleanup() {
  set +e
  stop "$wire"
  for p in "${pids[@]}"; do stop "$p"; done
  for ns in "$c" "$s"; do
    if [ -e "/run/netns/$ns" ]; then
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
      ip netns del "$ns"
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the two sides and the wire between them ---------------------------------------------------
ip netns add "$c"; ip netns add "$s"
for ns in "$c" "$s"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" tuntap add dev wire mode tun
done
ip -n "$c" addr add 10.77.0.1/32 dev wire
ip -n "$c" -6 addr add fd77::1/128 dev wire nodad
ip -n "$s" addr add 10.77.1.25/32 dev wire
ip -n "$s" addr add 10.77.1.53/32 dev wire
ip -n "$s" -6 addr add fd77:1::25/128 dev wire nodad
for ns in "$c" "$s"; do ip -n "$ns" link set wire up; done
ip -n "$c" route add 10.77.1.0/24 dev wire; ip -n "$c" -6 route add fd77:1::/64 dev wire
ip -n "$s" route add 10.77.0.0/24 dev wire; ip -n "$s" -6 route add fd77::/64 dev wire

# The delay line: bench/wire.c compiled here (its CPU is a fraction of the Python one's, which competed with the
# measured processes in the 200-delivery runs), bench/wire.py when a packet log is wanted or WIRE=py.
cwire=""
if [ "${WIRE:-c}" != py ] && command -v cc >/dev/null; then
  cc -O2 -Wall -o "$work/wire" "$here/wire.c" && cwire="$work/wire"
fi
# The parallel runs' driver: bench/rtt-par.c (forks each delivery as qmail-rspawn does), or the Python one with
# DRIVER=py or without cc. rtt-drive.py runs it and prints the same lines.
if [ "${DRIVER:-c}" != py ] && command -v cc >/dev/null; then
  cc -O2 -Wall -o "$work/rtt-par" "$here/rtt-par.c" && export RTT_PAR_BIN="$work/rtt-par"
fi
start_wire() { # RTT_MS [LOG]
  stop "$wire"; wire=""
  local half; half=$(python3 -c "print($1/2)")
  if [ -z "${2:-}" ] && [ -n "$cwire" ]; then
    "$cwire" "$c" wire "$s" wire "$half" > "$work/wire.out" 2>&1 & wire=$!
  else
    python3 "$here/wire.py" "$c" wire "$s" wire "$half" ${2:+"$2"} > "$work/wire.out" 2>&1 & wire=$!
  fi
  for _ in $(seq 100); do grep -qs ready "$work/wire.out" && return 0; sleep 0.05; done
  cat "$work/wire.out" >&2; echo "the wire did not start" >&2; exit 1
}

# ---- the server side: BIND9 and smtp-sink ----------------------------------------------------------
cat > "$work/rtt.test.zone" <<'ZONE'
$TTL 300
@ SOA ns.rtt.test. hostmaster.rtt.test. 1 3600 600 86400 300
@ NS ns
ns A 10.77.1.53
@ MX 10 mx
mx A 10.77.1.25
mx AAAA fd77:1::25
ZONE
minimal=yes; [ "${RTT_ADDITIONAL:-0}" = 1 ] && minimal=no
sink=${RTT_SINK:-smtp-sink}
cat > "$work/named.conf" <<CONF
options { directory "$work"; pid-file "$work/named.pid"; listen-on port 53 { 10.77.1.53; }; listen-on-v6 { none; };
  recursion no; dnssec-validation no; minimal-responses $minimal; querylog yes; };
controls { };
logging { channel q { stderr; }; category queries { q; }; category default { q; }; };
zone "rtt.test." { type primary; file "$work/rtt.test.zone"; };
CONF
start_wire 0
ip netns exec "$s" named -g -c "$work/named.conf" -n 1 -u root >"$work/named.out" 2>&1 & pids+=($!)
if [ "$sink" = chunking ]; then
  ip netns exec "$s" python3 "$here/chunk-sink.py" 10.77.1.25 25 fd77:1::25 25 > "$work/sink.out" 2>&1 & pids+=($!)
  for _ in $(seq 100); do grep -qs ready "$work/sink.out" && break; sleep 0.05; done
else
  ip netns exec "$s" smtp-sink -u nobody 10.77.1.25:25 256 & pids+=($!)
  ip netns exec "$s" smtp-sink -u nobody '[fd77:1::25]:25' 256 & pids+=($!)
fi
for _ in $(seq 100); do grep -qs running "$work/named.out" && break; sleep 0.05; done
grep -q running "$work/named.out" || { cat "$work/named.out" >&2; echo "named did not start" >&2; exit 1; }

# ---- the client side ------------------------------------------------------------------------
mkdir -p "$work/qmail/control"; echo client.test > "$work/qmail/control/me"
printf 'nameserver 10.77.1.53\n' > "$work/resolv.conf"
{ printf 'From: s@client.test\nTo: r@rtt.test\nSubject: rtt bench\n\n'
  for i in $(seq 12); do printf '%s line %02d of the round-trip bench message, seventy-two characters long\n' "$([ "$i" = 6 ] && echo . || echo -)" "$i"; done
} > "$work/msg"
args=(--qmail-home="$work/qmail" --resolv-conf="$work/resolv.conf" rtt.test s@client.test r@rtt.test)
# The daemon (RTT_DAEMON=0 leaves it out): qremote-daemon in the client namespace, a qmail home of its own
# whose control/qremote-daemon names its socket; the "daemon" client is the same binary, handing over.
clients=(qremote lockstep)
if [ "${RTT_DAEMON:-1}" = 1 ]; then
  cp -r "$work/qmail" "$work/qmail-d"; echo "$work/daemon.sock" > "$work/qmail-d/control/qremote-daemon"
  ip netns exec "$c" "$(dirname "$bin")/qremote-daemon" --qmail-home="$work/qmail-d" --resolv-conf="$work/resolv.conf" 2>"$work/daemon.out" & daemon_pid=$!; pids+=($!)
  for _ in $(seq 100); do [ -S "$work/daemon.sock" ] && break; sleep 0.05; done
  [ -S "$work/daemon.sock" ] || { cat "$work/daemon.out" >&2; echo "the daemon did not start" >&2; exit 1; }
  dargs=(--qmail-home="$work/qmail-d" --resolv-conf="$work/resolv.conf" rtt.test s@client.test r@rtt.test)
  clients=(qremote daemon lockstep)
  # qremote-handover (docs/daemon.md), the small program qmail-remote may link to while the daemon runs: positions
  # only, so the qmail home and resolver come from the environment, as an operator's would from the queue.
  handover="$(dirname "$bin")/qremote-handover"
  [ -x "$handover" ] || handover=""
  hargs=(rtt.test s@client.test r@rtt.test)
fi
# In the background and waited for, so that a signal to this script runs the cleanup at once.
drive() { ip netns exec "$c" python3 "$here/rtt-drive.py" "$@" | tee -a "$work/results" | { grep -v '^@' || true; } & wait $!; }

echo "rtt: wire $([ -n "$cwire" ] && echo bench/wire.c || echo bench/wire.py); parallel driver $([ -n "${RTT_PAR_BIN:-}" ] && echo bench/rtt-par.c || echo bench/rtt-drive.py); qremote $bin; lockstep $lockstep; BIND minimal-responses $minimal; server $sink; message $(wc -c < "$work/msg") bytes"
for rtt in "${rtts[@]}"; do
  start_wire "$rtt"
  echo "== RTT $rtt ms"
  drive single qremote "$rtt" "$runs" "$work/msg" -- "$bin" "${args[@]}"
  [ "${RTT_DAEMON:-1}" = 1 ] && drive single daemon "$rtt" "$runs" "$work/msg" -- "$bin" "${dargs[@]}"
  [ -n "${handover:-}" ] && QREMOTE_QMAIL_HOME="$work/qmail-d" QREMOTE_RESOLV_CONF="$work/resolv.conf" \
    drive single handover-bin "$rtt" "$runs" "$work/msg" -- "$handover" "${hargs[@]}"
  drive single lockstep "$rtt" "$runs" "$work/msg" -- "$lockstep" "${args[@]}"
  drive parallel qremote "$rtt" "$n,$par" "$work/msg" -- "$bin" "${args[@]}"
  [ "${RTT_DAEMON:-1}" = 1 ] && drive parallel daemon "$rtt" "$n,$par" "$work/msg" -- "$bin" "${dargs[@]}"
  [ -n "${handover:-}" ] && QREMOTE_QMAIL_HOME="$work/qmail-d" QREMOTE_RESOLV_CONF="$work/resolv.conf" \
    drive parallel handover-bin "$rtt" "$n,$par" "$work/msg" -- "$handover" "${hargs[@]}"
  drive parallel lockstep "$rtt" "$n,$par" "$work/msg" -- "$lockstep" "${args[@]}"
done

# ---- the flights of one delivery, at the largest RTT ----------------------------------------------
top=$(printf '%s\n' "${rtts[@]}" | sort -g | tail -1)
if python3 -c "import sys; sys.exit(0 if $top >= 10 else 1)"; then
  echo "== one delivery each at $top ms RTT, every packet logged by the wire"
  order=(qremote lockstep); [ "${RTT_DAEMON:-1}" = 1 ] && order=(daemon qremote lockstep)
  for client in "${order[@]}"; do
    exe=$bin; [ "$client" = lockstep ] && exe=$lockstep
    a=("${args[@]}"); [ "$client" = daemon ] && a=("${dargs[@]}")
    if [ "$client" = daemon ]; then
      # Warm: the daemon's connection and DNS answers from a delivery just before (the wire restarts in between).
      # First the idle connections of the runs above expire (10 s) and are closed, away from the log.
      start_wire "$top"; sleep 11; drive once daemon-warmup "$top" - "$work/msg" -- "$exe" "${a[@]}"; stop "$wire"; wire=""
    fi
    start_wire "$top" "$work/wire-$client.log"
    drive once "$client" "$top" - "$work/msg" -- "$exe" "${a[@]}"
    sleep "$(python3 -c "print(2*$top/1000)")"   # the server's last packets cross the wire too
    stop "$wire"; wire=""
    python3 "$here/flights.py" "$work/wire-$client.log" "$top" "$client" | tee -a "$work/results" | { grep -v '^@' || true; }
    if [ "$client" = daemon ]; then
      # Its kept connections would cross the wire while the others are logged: stop it first (it QUITs them).
      start_wire "$top"; stop "$daemon_pid"; sleep 0.5; stop "$wire"; wire=""
    fi
  done
fi

# ---- summary ----------------------------------------------------------------------------------------
python3 - "$work/results" <<'PY'
import sys
single, rate, waits = {}, {}, {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    if f[0] == "@single": single[(f[2], f[1])] = f
    elif f[0] == "@parallel": rate[(f[2], f[1])] = f
    elif f[0] == "@flights": waits[f[1]] = f[3]
print("\nsummary (one delivery: wall time in ms, and its median in RTTs; rate: RTT_N deliveries, RTT_PAR at a time)")
print(f"{'RTT ms':>6}  {'client':12} {'median':>8} {'min':>8} {'max':>8} {'RTTs':>6} {'msg/s':>7} {'rate/lockstep':>14}")
for rtt in sorted({k[0] for k in single}, key=float):
    for client in [c for c in ("qremote", "daemon", "handover-bin", "lockstep") if (rtt, c) in single]:
        s, p = single[(rtt, client)], rate[(rtt, client)]
        ratio = float(p[6]) / float(rate[(rtt, "lockstep")][6])
        print(f"{rtt:>6}  {client:12} {s[3]:>8} {s[4]:>8} {s[5]:>8} {s[7]:>6} {p[6]:>7} {ratio:13.2f}x")
for client, w in waits.items():
    print(f"round trips before QUIT, counted by the wire: {client} {w}")
PY
