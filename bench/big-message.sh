#!/usr/bin/env bash
# Message-size scaling: one delivery of messages from 1 KB to 2 GB to Postfix's smtp-sink on
# loopback; wall time, throughput and peak RSS (/usr/bin/time) of the published binary. Memory must
# not grow with the size: the message is streamed. Usage: bench/big-message.sh [sizes in MB...]
# SINK=chunking: to bench/chunk-sink.py (BDAT) instead of smtp-sink (DATA).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${QREMOTE_BINARY:-$root/artifacts/publish/qremote}
[ -x "$bin" ] || { echo "publish first: dotnet cake --target=Publish" >&2; exit 1; }
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(0.001 1 20 200 2048)
work=$(mktemp -d -t qremote-big-XXXXXX); chmod 755 "$work"
sink=""
cleanup() { [ -n "$sink" ] && kill "$sink" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/qmail/control"; echo big.test > "$work/qmail/control/me"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2",0)); print(s.getsockname()[1])')
echo ":[127.0.0.2]:$port" > "$work/qmail/control/smtproutes"
user=(); [ "$(id -u)" = 0 ] && user=(-u nobody)
if [ "${SINK:-smtp-sink}" = chunking ]; then
  # bench/chunk-sink.py: offers CHUNKING, so the message goes as BDAT LAST and is read in one piece.
  # smtp-sink (DATA, line by line) is the slower side at about 220 MB/s: qremote waits for it.
  python3 "$root/bench/chunk-sink.py" 127.0.0.2 "$port" > "$work/sink.out" & sink=$!
  for _ in $(seq 50); do grep -q ready "$work/sink.out" 2>/dev/null && break; sleep 0.1; done
else
  smtp-sink "${user[@]}" 127.0.0.2:"$port" 16 & sink=$!
  sleep 0.3
fi
printf '%-10s %10s %10s %12s\n' "size MB" "wall s" "MB/s" "peak RSS MB"
for mb in "${sizes[@]}"; do
  bytes=$(python3 -c "print(int(float('$mb') * 1048576))")
  { printf 'Subject: big\n\n'; (yes '.a line of a large message, with a leading dot to stuff, 72 chars long..' || true) | head -c "$bytes"; echo; } > "$work/msg"
  /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --qmail-home="$work/qmail" example.org s@big.test r@example.org < "$work/msg" > "$work/out"
  grep -q "K127.0.0.2" "$work/out" || { echo "not delivered: $(tr '\0' '|' < "$work/out")"; exit 1; }
  read -r wall rss < "$work/time"
  python3 -c "w=max(float('$wall'),0.01); print(f'{float(\"$mb\"):<10g} {w:>10.2f} {float(\"$mb\")/w:>10.0f} {int(\"$rss\")/1024:>12.1f}')"
  rm -f "$work/msg"
done
