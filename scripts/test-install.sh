#!/usr/bin/env bash
# Tests the Install and Uninstall Cake targets against a fake qmail home in a temporary directory:
#
#   bash scripts/test-install.sh
#
# QMAILHOME/bin/qmail-remote is a small shell script standing in for qmail's binary. The script
# installs, installs again (nothing may change), checks the symlink and qmail-remote.orig, runs
# `QMAILHOME/bin/qmail-remote --version` through the symlink (a position there: an improper invocation), uninstalls, uninstalls again, and
# checks the original is back byte for byte. Then the refusals: a binary whose --selftest fails
# (a control file qmailr cannot read), no QMAILHOME/bin, Uninstall with no qmail-remote.orig,
# Install with a different qmail-remote.orig already there.
#
# The suite has the selftest refusals against a BIND of its own (tests/QRemote.Tests/EndToEnd/InstallTargetTests.cs);
# this script is the longer walk by hand. The selftest runs as the qmail user given to Install: `nobody` here (--qmail-user), since a test machine has
# no qmailr; it looks up control/me through /etc/resolv.conf, so the machine's resolver must answer.
#
# Nothing outside the temporary directory is touched (PREFIX is in it too) but artifacts/, where
# the first Install publishes the binary (dotnet cake --target=Publish, a minute or so). The
# second Install publishes again: if src/ changed in between, it rightly replaces the binary and
# the "must change nothing" check fails.
set -euo pipefail

cd "$(dirname "$0")/.."
export NO_COLOR=1 DOTNET_NOLOGO=1

work="$(mktemp -d /tmp/qremote-install-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT
home="$work/qmail"
prefix="$work/libexec/qremote"
bin="$home/bin"

fail() { echo "test-install: FAIL: $*" >&2; exit 1; }
step() { echo; echo "==== $*"; }
# Runs a Cake target, prints its own lines (install:/uninstall:/Error:), returns Cake's exit code.
cake() {
  local rc=0 out
  out="$(dotnet cake "$@" --qmail-user=nobody 2>&1)" || rc=$?
  printf '%s\n' "$out" | grep -E '^(install|uninstall): |Error: ' || true
  return "$rc"
}

chmod 0755 "$work"   # as /usr/local is: qmailr must reach the binary
mkdir -p "$bin" "$home/control" "$home/queue/mess"
cat >"$bin/qmail-remote" <<'EOF'
#!/bin/sh
# stand-in for qmail's own qmail-remote
printf 'Zthe original qmail-remote ran.\n\0'
exit 0
EOF
chmod 0711 "$bin/qmail-remote"
cp -p "$bin/qmail-remote" "$work/pristine"
echo test.example.org >"$home/control/me"

dotnet tool restore >/dev/null

step "Install"
cake --target=Install --qmail-home="$home" --prefix="$prefix" || fail "Install failed"
[ -L "$bin/qmail-remote" ] || fail "qmail-remote is not a symlink"
[ "$(readlink "$bin/qmail-remote")" = "$prefix/qremote" ] || fail "qmail-remote links to $(readlink "$bin/qmail-remote")"
cmp "$bin/qmail-remote.orig" "$work/pristine" || fail "qmail-remote.orig is not the original"
[ "$(stat -c %a "$prefix/qremote")" = 755 ] || fail "mode of $prefix/qremote is $(stat -c %a "$prefix/qremote")"
cmp "$prefix/qremote" artifacts/publish/qremote || fail "$prefix/qremote is not the published binary"
ls -l "$bin" "$prefix"

step "Install again (must change nothing)"
before="$(ls -li --time-style=full-iso "$bin" "$prefix")"
out="$(cake --target=Install --qmail-home="$home" --prefix="$prefix")" || { echo "$out"; fail "second Install failed"; }
echo "$out"
echo "$out" | grep -q 'install: nothing to do' || fail "second Install did not say it had nothing to do"
[ "$before" = "$(ls -li --time-style=full-iso "$bin" "$prefix")" ] || fail "second Install changed files"

step "qmail-remote through the symlink: positions only, QRemote's report"
# As qmail-remote, --version is a host, not an option: one argument is an improper invocation, in QRemote's words.
report="$("$bin/qmail-remote" --version </dev/null | tr '\0' '|')"
echo "$report"
[ "$report" = "DI (qmail-remote) was invoked improperly. (#5.3.5)
|" ] || fail "unexpected report through the symlink: $report"
version="$("$prefix/qremote" --version)"
case "$version" in "qremote "*) ;; *) fail "unexpected qremote --version output: $version" ;; esac
[ "$(readlink "$prefix/qremote-daemon")" = qremote ] || fail "no qremote-daemon symlink"

step "Uninstall"
cake --target=Uninstall --qmail-home="$home" --prefix="$prefix" || fail "Uninstall failed"
[ -f "$bin/qmail-remote" ] && [ ! -L "$bin/qmail-remote" ] || fail "qmail-remote is not a regular file again"
cmp "$bin/qmail-remote" "$work/pristine" || fail "the original is not back byte for byte"
[ "$(stat -c %a "$bin/qmail-remote")" = 711 ] || fail "the original's mode changed"
[ ! -e "$bin/qmail-remote.orig" ] || fail "qmail-remote.orig is still there"
[ ! -e "$prefix/qremote" ] || fail "$prefix/qremote is still there"
[ ! -L "$prefix/qremote-daemon" ] || fail "$prefix/qremote-daemon is still there"
printf '%s' "$("$bin/qmail-remote" | tr '\0' '|')"; echo
ls -l "$bin"

step "Uninstall again (must change nothing)"
out="$(cake --target=Uninstall --qmail-home="$home" --prefix="$prefix")" || { echo "$out"; fail "second Uninstall failed"; }
echo "$out"
echo "$out" | grep -q 'uninstall: nothing to do' || fail "second Uninstall did not say it had nothing to do"
cmp "$bin/qmail-remote" "$work/pristine" || fail "second Uninstall changed the original"

step "Refusal: a binary whose --selftest fails is not installed"
echo 192.0.2.1 >"$home/control/outgoingip"
chmod 0600 "$home/control/outgoingip"   # root's only: qmailr (here nobody) could not read it, and would defer every delivery
out="$(cake --target=Install --qmail-home="$home" --prefix="$prefix")" && { echo "$out"; fail "Install succeeded although the selftest fails"; }
echo "$out"
echo "$out" | grep -q '^install: selftest: FAIL control/outgoingip: exists but cannot be read' || fail "the selftest's FAIL line is not shown"
echo "$out" | grep -q 'was not switched' || fail "Install did not say it refused to switch"
[ -f "$bin/qmail-remote" ] && [ ! -L "$bin/qmail-remote" ] && cmp "$bin/qmail-remote" "$work/pristine" || fail "the refused Install changed qmail-remote"
[ ! -e "$bin/qmail-remote.orig" ] || fail "the refused Install made qmail-remote.orig"
[ ! -e "$prefix/qremote" ] || fail "the refused Install left $prefix/qremote"
rm "$home/control/outgoingip"

step "Refusal: no QMAILHOME/bin"
if cake --target=Install --qmail-home="$work/nowhere" --prefix="$prefix"; then fail "Install succeeded without $work/nowhere/bin"; fi
if cake --target=Uninstall --qmail-home="$work/nowhere" --prefix="$prefix"; then fail "Uninstall succeeded without $work/nowhere/bin"; fi

step "Refusal: Uninstall with no qmail-remote.orig"
cake --target=Install --exclusive --qmail-home="$home" --prefix="$prefix" || fail "Install --exclusive failed"
rm "$bin/qmail-remote.orig"
if cake --target=Uninstall --qmail-home="$home" --prefix="$prefix"; then fail "Uninstall succeeded without qmail-remote.orig"; fi
[ "$(readlink "$bin/qmail-remote")" = "$prefix/qremote" ] && [ -x "$prefix/qremote" ] || fail "the refused Uninstall changed something"

step "Refusal: Install when qmail-remote is a regular file and a different .orig exists"
cp -p "$work/pristine" "$bin/qmail-remote.orig"
cp -p "$work/pristine" "$bin/qmail-remote.new" && echo '# rebuilt' >>"$bin/qmail-remote.new" && mv "$bin/qmail-remote.new" "$bin/qmail-remote"
if cake --target=Install --qmail-home="$home" --prefix="$prefix"; then fail "Install overwrote or ignored a different qmail-remote.orig"; fi
cmp "$bin/qmail-remote.orig" "$work/pristine" || fail "qmail-remote.orig was changed"
grep -q '# rebuilt' "$bin/qmail-remote" || fail "qmail-remote was changed"

echo
echo "test-install: all checks passed"
