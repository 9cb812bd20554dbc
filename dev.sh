#!/usr/bin/env bash
# mtls-doctor developer entry point.
#   ./dev.sh demo    set everything up, then run the lab demo (the main job)
#   ./dev.sh test    set everything up, then run the whole test suite
#   ./dev.sh setup   only set up
# Setting up = Debian packages (nginx-light, openssl, curl, python3-venv) when missing, a
# virtualenv in .venv, and the package installed into it with its test extras. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

have_nginx() { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }

setup_system() {
  local pkgs=()
  have_nginx || pkgs+=(nginx-light)
  # stream and mail modules: the logs tests read real stream/mail client-certificate lines
  [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || pkgs+=(libnginx-mod-stream)
  [ -e /usr/lib/nginx/modules/ngx_mail_module.so ] || pkgs+=(libnginx-mod-mail)
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
  command -v curl >/dev/null 2>&1 || pkgs+=(curl)
  command -v patch >/dev/null 2>&1 || pkgs+=(patch)  # lint --diff is checked by applying it
  command -v git >/dev/null 2>&1 || pkgs+=(git)  # SARIF tests take the repository root from git
  command -v envsubst >/dev/null 2>&1 || pkgs+=(gettext-base)  # templates are checked against a real envsubst rendering
  command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)  # the HTML report is checked in headless Chromium
  [ -e /etc/ssl/certs/ca-certificates.crt ] || pkgs+=(ca-certificates)
  command -v prometheus >/dev/null 2>&1 || pkgs+=(prometheus)  # the exporter tests scrape with a real Prometheus
  if [ "${#pkgs[@]}" -gt 0 ]; then
    echo "==> installing Debian packages: ${pkgs[*]}"
    # A temporary policy-rc.d (exit 101) keeps the nginx package from starting a system nginx
    # on port 80 (and from failing when that port is taken); mtls-doctor runs its own nginx.
    local policy=/usr/sbin/policy-rc.d made_policy=""
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod 755 "$policy" && made_policy=1
    fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" || { [ -n "$made_policy" ] && $SUDO rm -f "$policy"; exit 1; }
    if [ -n "$made_policy" ]; then $SUDO rm -f "$policy"; fi
  fi
}

setup_python() {
  if [ ! -x .venv/bin/python ] || [ ! -x .venv/bin/pip ]; then
    echo "==> creating .venv"
    if ! python3 -m venv --clear .venv >/dev/null 2>&1; then
      # Debian's python3 ships venv without ensurepip until python3-venv is installed
      echo "==> installing python3-venv"
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
      $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
      python3 -m venv --clear .venv
    fi
  fi
  echo "==> installing mtls-doctor into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
}

cmd="${1:-demo}"
case "$cmd" in
  setup) setup_system; setup_python ;;
  demo) setup_system; setup_python; exec .venv/bin/mtls-doctor demo ;;
  test) setup_system; setup_python; exec .venv/bin/python -m pytest -q -p no:cacheprovider ;;
  *) echo "usage: ./dev.sh demo|test|setup" >&2; exit 2 ;;
esac
