#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests (test/docs): /usr/bin/chromium,
# or LEASEHOLD_CHROMIUM. On Debian as root it installs the chromium package; otherwise it stops
# with a clear message. Tests call this themselves when the browser is missing.
set -euo pipefail

BROWSER="${LEASEHOLD_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$BROWSER" ] && [ "$BROWSER" = /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: installing chromium" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

if [ ! -x "$BROWSER" ]; then
  echo "ensure-chromium: no Chromium at $BROWSER, and it could not be installed here (needs Debian and root)." >&2
  echo "Install it (apt-get install -y chromium) or point LEASEHOLD_CHROMIUM at a Chromium binary; the browser tests are not skipped." >&2
  exit 1
fi
