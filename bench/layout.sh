#!/usr/bin/env bash
# Regenerates src/QRemote/Layout/qremote.order, the profile ILC lays qremote's managed code out by (IlcOrderFile in
# src/QRemote/QRemote.csproj; docs/performance.md, "Method order from a profile"): publishes qremote with its symbols
# (the layout of the text is the same as the stripped binary's) and bench/Floor, then bench/layout.py traces a hand-over
# and literal, MX and STARTTLS deliveries (bench/process.py's scenarios and peers) and writes the order file.
# Run it after a change on a delivery's path, then commit the file; a stale file costs page faults, never the build.
# Needs what bench/process.sh needs, and ptrace (root or ptrace_scope 0). Usage: bash bench/layout.sh [runs per scenario]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
linker=(); command -v clang >/dev/null || linker=(-p:CppCompilerAndLinker=gcc)
out="$root/artifacts/layout"
dotnet publish "$root/src/QRemote/QRemote.csproj" -c Release -r linux-x64 -o "$out/qremote" -p:StripSymbols=false "${linker[@]}" -nologo -v quiet
dotnet publish "$root/bench/Floor/Floor.csproj" -c Release -r linux-x64 -o "$out/floor" "${linker[@]}" -nologo -v quiet
exec python3 "$root/bench/layout.py" "$out/qremote/qremote" "$out/floor/floor" "$root/src/QRemote/Layout/qremote.order" --runs "${1:-5}"
