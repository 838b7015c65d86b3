#!/usr/bin/env bash
# Whole-process cost per delivery against an AOT hello world (docs/performance.md): publishes qremote and bench/Floor
# Native AOT with the same options (and qremote-handover beside qremote), then runs bench/process.py (floor, literal, MX
# through BIND9, STARTTLS, hand-over to qremote-daemon by qremote and by qremote-handover, qremote-handover's exec of
# qremote with no daemon, the 200-delivery rates). One command from a fresh clone: bash bench/process.sh [runs]
# Needs dotnet, clang or gcc, zlib1g-dev, bind9 (named, dnssec-keygen, dnssec-signzone), postfix (smtp-sink), openssl,
# python3 (as root: bash scripts/install-deps.sh all). PUBLISH=0 uses what artifacts/ already holds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
linker=(); command -v clang >/dev/null || linker=(-p:CppCompilerAndLinker=gcc)
if [ "${PUBLISH:-1}" != 0 ]; then
  dotnet publish "$root/src/QRemote/QRemote.csproj" -c Release -r linux-x64 -o "$root/artifacts/publish" "${linker[@]}" -nologo -v quiet
  dotnet publish "$root/src/QRemote.HandOver/QRemote.HandOver.csproj" -c Release -r linux-x64 -o "$root/artifacts/publish" "${linker[@]}" -nologo -v quiet
  dotnet publish "$root/bench/Floor/Floor.csproj" -c Release -r linux-x64 -o "$root/artifacts/bench/floor" "${linker[@]}" -nologo -v quiet
fi
exec python3 "$root/bench/process.py" "$root/artifacts/publish/qremote" "$root/artifacts/bench/floor/floor" --runs "${1:-31}" \
  --handover "$root/artifacts/publish/qremote-handover" \
  --json "$root/artifacts/bench/process.json"
