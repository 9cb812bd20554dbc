#!/usr/bin/env bash
# The nginx version matrix: Debian roots with real nginx of each version, cached outside the clone.
#
#   tools/roots.sh build [SUITE...]   build (or refresh) the roots; default: every suite below
#   tools/roots.sh path SUITE         print the root's path (building it when missing or stale)
#   tools/roots.sh nginx SUITE        print the root's nginx binary (mtls-doctor runs it with the
#                                     root's own loader and libraries: --nginx accepts this path)
#   tools/roots.sh suite SUITE [--head]  run the whole test suite inside the root (chroot), on a
#                                     copy of this work tree (--head: of the last commit), as a
#                                     fresh machine of that release would
#   tools/roots.sh list               suite, nginx and OpenSSL of each cached root
#
# Suites: bullseye (nginx 1.18 / OpenSSL 1.1.1), bookworm (1.22 / 3.0), trixie (1.26 / 3.5),
# sid (forky/sid: 1.30 / 3.6). The cache is $MTLS_DOCTOR_ROOTS (default
# /var/cache/mtls-doctor/roots); a root older than $MTLS_DOCTOR_ROOTS_MAX_AGE days (default 14)
# or without its stamp file is rebuilt. Needs root (debootstrap, chroot); apt installs
# debootstrap when it is missing. Nothing is written inside the clone.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cache="${MTLS_DOCTOR_ROOTS:-/var/cache/mtls-doctor/roots}"
max_age="${MTLS_DOCTOR_ROOTS_MAX_AGE:-14}"
mirror="${MTLS_DOCTOR_MIRROR:-http://deb.debian.org/debian}"
all_suites=(bullseye bookworm trixie sid)
# what each root holds: nginx with the stream and mail modules, the peers the tests use, and the
# root's own python3 (mtls-doctor runs its verify helper there when that libcrypto cannot be
# loaded into the host's process: a newer glibc)
packages="nginx-light,libnginx-mod-stream,libnginx-mod-mail,openssl,curl,ca-certificates,python3"

die() { echo "roots.sh: $*" >&2; exit 2; }

known() { local s; for s in "${all_suites[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

fresh() {  # $1 = root dir: built completely and not older than max_age days
  [ -f "$1/.mtls-doctor-root" ] && [ -z "$(find "$1/.mtls-doctor-root" -mtime +"$max_age")" ]
}

build_one() {
  local suite="$1" dir="$cache/$1" tmp="$cache/$1.tmp" t0=$SECONDS
  known "$suite" || die "unknown suite '$suite' (one of: ${all_suites[*]})"
  if fresh "$dir"; then return 0; fi
  [ "$(id -u)" -eq 0 ] || die "building a root needs root (debootstrap)"
  command -v debootstrap >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  mkdir -p "$cache"
  rm -rf "$tmp"
  echo "==> building the $suite root in $dir" >&2
  # sid's Release file may be past its Valid-Until on a snapshot mirror: the root's apt is told to
  # accept it (debootstrap itself does not check it)
  if ! debootstrap --variant=minbase --include="$packages" "$suite" "$tmp" "$mirror" \
      >"$cache/$suite.log" 2>&1; then
    tail -n 5 "$cache/$suite.log" >&2
    die "debootstrap $suite failed (whole log: $cache/$suite.log)"
  fi
  echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/99mtls-doctor"
  # no service starts inside the root
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d" && chmod 755 "$tmp/usr/sbin/policy-rc.d"
  date -u +%FT%TZ >"$tmp/.mtls-doctor-root"
  rm -rf "$dir" && mv "$tmp" "$dir"
  echo "==> $suite root built in $((SECONDS - t0)) s" >&2
}

unmount_all() {  # $1 = root dir: whatever a run (also an interrupted one) mounted inside it
  local m
  for m in dev/pts dev sys proc; do
    if mountpoint -q "$1/$m" 2>/dev/null; then umount -l "$1/$m" 2>/dev/null || true; fi
  done
}

nginx_of() { echo "$cache/$1/usr/sbin/nginx"; }

run_suite() {  # the whole suite inside the root, on a copy of the work tree (not its .venv)
  local suite="$1" dir="$cache/$1" work
  build_one "$suite"
  work="$dir/work"
  rm -rf "$work" && mkdir -p "$work/main" "$work/shared"
  if [ "${2:-}" = "--head" ]; then  # exactly what is committed, as CI's clean clone has it
    git -C "$here" archive HEAD | tar -C "$work/main" -xf -
  else
    tar -C "$here" --exclude=./.venv --exclude='*/__pycache__' --exclude=./.pytest_cache \
        --exclude=./.hypothesis -cf - . | tar -C "$work/main" -xf -
  fi
  [ -d "$here/../shared" ] && cp -a "$here/../shared/." "$work/shared/"
  # the host's way out: name resolution, its extra CA certificates (a TLS-inspecting egress
  # proxy) and pip settings, as a machine of that release set up like this one would have them
  cp /etc/resolv.conf "$dir/etc/resolv.conf" 2>/dev/null || true
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    mkdir -p "$dir/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
    chroot "$dir" update-ca-certificates >/dev/null 2>&1 || true
  fi
  [ -f /etc/pip.conf ] && cp /etc/pip.conf "$dir/etc/pip.conf"
  unmount_all "$dir"
  trap 'unmount_all "$chroot_dir"' EXIT
  chroot_dir="$dir"
  for m in proc sys dev dev/pts; do
    mkdir -p "$dir/$m"
    case "$m" in
      proc) mount -t proc proc "$dir/proc" ;;
      sys) mount -t sysfs sys "$dir/sys" ;;
      dev) mount --bind /dev "$dir/dev" ;;
      dev/pts) mount --bind /dev/pts "$dir/dev/pts" ;;
    esac
  done
  local keep=() v
  for v in $(compgen -e); do
    case "$v" in PIP_*|*_CA_BUNDLE|SSL_CERT_*|http_proxy|https_proxy|HTTP_PROXY|HTTPS_PROXY|no_proxy|NO_PROXY)
      keep+=("$v=${!v}") ;;
    esac
  done
  chroot "$dir" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 CI="${CI:-}" "${keep[@]}" bash -c 'cd /work/main && ./dev.sh test'
}

list_roots() {
  local s
  for s in "${all_suites[@]}"; do
    [ -x "$(nginx_of "$s")" ] || continue
    printf '%-9s %s\n' "$s" "$(cat "$cache/$s/.mtls-doctor-root" 2>/dev/null || echo incomplete)"
  done
}

cmd="${1:-}"; shift || true
case "$cmd" in
  build) if [ "$#" -eq 0 ]; then set -- "${all_suites[@]}"; fi
         for s in "$@"; do build_one "$s"; done ;;
  path) [ "$#" -eq 1 ] || die "usage: roots.sh path SUITE"; build_one "$1"; echo "$cache/$1" ;;
  nginx) [ "$#" -eq 1 ] || die "usage: roots.sh nginx SUITE"; build_one "$1"; nginx_of "$1" ;;
  suite) [ "$#" -ge 1 ] || die "usage: roots.sh suite SUITE [--head]"; run_suite "$@" ;;
  list) list_roots ;;
  *) die "usage: roots.sh build [SUITE...] | path SUITE | nginx SUITE | suite SUITE [--head] | list" ;;
esac
