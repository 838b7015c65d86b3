#!/usr/bin/env bash
# Every benchmark; the Cake target Bench runs this after publishing qremote and bench/LockStep.
# Results go in docs/performance.md. RTT=0 skips rtt.sh (it needs root), MICRO=0 the BenchmarkDotNet runs.
set -euo pipefail
here=$(dirname "$0")
echo "== whole-process cost per delivery, as ratios to an AOT hello world (bench/process.sh)"
PUBLISH=${PUBLISH:-0} bash "$here/process.sh" "${RUNS:-21}"
echo
echo "== loopback delivery, 1 KB, smtproutes literal (no DNS)"
bash "$here/loopback-delivery.sh" "${RUNS:-21}"
echo
echo "== delivery through BIND9 (signed zone): plain MX, and an MX answer over 1232 bytes (TCP)"
bash "$here/dns-delivery.sh" "${RUNS:-21}"
echo; echo "== load: 1,000 deliveries, 50 at a time"; bash "$here/load.sh" "${LOAD_N:-1000}" "${LOAD_PAR:-50}"
echo; echo "== message size scaling"; bash "$here/big-message.sh"
echo; echo "== STARTTLS against plain"; bash "$here/tls-delivery.sh" "${RUNS:-21}"
echo; echo "== round trips at emulated RTTs: qremote against the lock-step reference client"
if [ "${RTT:-1}" = 0 ]; then echo "skipped (RTT=0)"
elif [ "$(id -u)" != 0 ]; then echo "skipped: rtt.sh needs root (network namespaces)"
else bash "$here/rtt.sh"; fi
echo; echo "== micro-benchmarks (BenchmarkDotNet, short runs)"
if [ "${MICRO:-1}" = 0 ]; then echo "skipped (MICRO=0)"
else dotnet run -c Release --project "$here/Micro/Micro.csproj"; fi
