#!/usr/bin/env bash
# Installs, from Debian's packages, what QRemote's build, tests and demo need.
#
#   bash scripts/install-deps.sh [all|build|demo]      (default: all)
#
#   build:  clang, zlib1g-dev                         (Native AOT publish)
#   demo:   build + postfix (for its smtp-sink)
#   all:    demo + bind9, bind9-utils, bind9-dnsutils (named, dnssec-keygen, dnssec-signzone, dig),
#           unbound, openssl, swaks, iproute2 (ip), time, strace, dovecot-core (SASL for Postfix)
#
# Idempotent: a package is installed only when the file it provides is missing, and apt is not
# touched at all when nothing is. No service is started by the install (policy-rc.d), and postfix
# is installed unconfigured (only its smtp-sink binary is wanted).
# Needs root when something is missing; otherwise says what is missing and fails.
set -euo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

group="${1:-all}"

# package  file(s) that show it is installed (any one of them)
build=(
  "clang          /usr/bin/clang"
  "zlib1g-dev     /usr/include/zlib.h"
)
demo=(
  "postfix        /usr/sbin/smtp-sink"
)
tests=(
  "bind9          /usr/sbin/named"
  "bind9-utils    /usr/bin/dnssec-keygen"
  "bind9-utils    /usr/bin/dnssec-signzone"
  "bind9-dnsutils /usr/bin/dig"
  "unbound        /usr/sbin/unbound"
  "openssl        /usr/bin/openssl"
  "swaks          /usr/bin/swaks"
  "iproute2       /usr/sbin/ip /sbin/ip /usr/bin/ip /bin/ip"
  "time           /usr/bin/time"
  "strace         /usr/bin/strace"
  "dovecot-core   /usr/sbin/dovecot"
  "python3        /usr/bin/python3"
  "procps         /usr/bin/pgrep"
  "util-linux     /usr/bin/setpriv"
)

case "$group" in
  build) need=("${build[@]}") ;;
  demo) need=("${build[@]}" "${demo[@]}") ;;
  all) need=("${build[@]}" "${demo[@]}" "${tests[@]}") ;;
  *) echo "usage: $0 [all|build|demo]" >&2; exit 2 ;;
esac

missing=()
for line in "${need[@]}"; do
  read -r pkg files <<<"$line"
  found=no
  for f in $files; do
    if [ -e "$f" ]; then found=yes; break; fi
  done
  if [ "$found" = no ]; then
    case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all dependencies present ($group)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run this script as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive

# No daemon may start while packages install (bind9, unbound and postfix would otherwise try).
# A policy-rc.d that we put here is removed again afterwards; one that was already there stays.
policy=/usr/sbin/policy-rc.d
created_policy=no
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=yes
fi
cleanup() { if [ "$created_policy" = yes ]; then rm -f "$policy"; fi; }
trap cleanup EXIT

case " ${missing[*]} " in
  *" postfix "*)
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    ;;
esac

apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
apt-get "${apt_opts[@]}" update -qq
apt-get "${apt_opts[@]}" install -y -qq --no-install-recommends "${missing[@]}" </dev/null

echo "install-deps: done"
