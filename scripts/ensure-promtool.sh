#!/usr/bin/env bash
# Makes sure promtool is on PATH, for the test that checks the agent's /metrics with `promtool check metrics`.
# On Debian as root it installs the prometheus package (promtool ships in it); otherwise it stops with a clear
# message. The package's service is never started: a policy-rc.d refuses it for the length of the install.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then exit 0; fi

if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-promtool: promtool is not on PATH and cannot be installed here (needs Debian and root);" >&2
  echo "install the prometheus package (or put promtool on PATH). The metrics test needs it and is not skipped." >&2
  exit 1
fi

# invoke-rc.d asks policy-rc.d before starting a service: 101 means "not allowed". One already in place
# (container images often ship one) is left as it is.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi

install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
echo "ensure-promtool: installing prometheus (for promtool)" >&2
# The package lists may be missing or stale: update only when the first attempt fails, to keep it quick.
if ! install 2>/dev/null; then
  apt-get update -qq >/dev/null
  install
fi
# A package that starts its service despite the policy (a systemd host) is stopped again: only promtool is wanted.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then systemctl stop prometheus || true; fi

command -v promtool >/dev/null 2>&1 || { echo "ensure-promtool: the prometheus package installed no promtool" >&2; exit 1; }
echo "ensure-promtool: $(promtool --version 2>&1 | head -1)" >&2
