#!/usr/bin/env bash
# Makes sure a Docker engine answers and the local test image exists.
# Order: DOCKER_HOST or /var/run/docker.sock if it answers; otherwise, on Debian as root,
# install docker.io + busybox-static and start dockerd; otherwise stop with a clear message.
# With --soft (used by `npm start`) a missing engine is reported and the script exits 0.
set -euo pipefail

SOFT=0
[ "${1:-}" = "--soft" ] && SOFT=1

IMAGE="${LEASEHOLD_TEST_IMAGE:-leasehold-test/busybox:latest}"

engine_answers() { command -v docker >/dev/null 2>&1 && timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if ! engine_answers; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null 2>&1 || [ ! -x /bin/busybox ]; then
      echo "ensure-docker: installing docker.io and busybox-static" >&2
      apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io busybox-static >/dev/null
    fi
    if ! engine_answers; then
      echo "ensure-docker: starting dockerd" >&2
      mkdir -p /var/log
      # Every job gets a bridge network on each host: /24s from one /16 give 256 of them, where the
      # engine's default pools hold about 30. The default bridge keeps its usual address.
      nohup dockerd --bip 172.17.0.1/16 --default-address-pool base=10.213.0.0/16,size=24 >/var/log/leasehold-dockerd.log 2>&1 &
      for _ in $(seq 1 60); do engine_answers && break; sleep 1; done
    fi
  fi
fi

if ! engine_answers; then
  echo "ensure-docker: no Docker engine answers (DOCKER_HOST='${DOCKER_HOST:-}', /var/run/docker.sock)," >&2
  echo "and one could not be installed and started here (needs Debian and root)." >&2
  if [ "$SOFT" = 1 ]; then
    echo "The control plane will run without a local agent." >&2
    exit 0
  fi
  echo "The Docker suites need a real engine; they are not skipped." >&2
  exit 1
fi

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  # busybox-static provides /bin/busybox; a dynamically linked busybox would not run in an empty rootfs.
  bb=/bin/busybox
  if ! dpkg -s busybox-static >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
  fi
  [ -x "$bb" ] || { echo "ensure-docker: a static busybox is needed to build $IMAGE" >&2; exit 1; }
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/tmp" "$root/www" "$root/etc"
  cp "$bb" "$root/bin/busybox"
  for app in $("$root/bin/busybox" --list); do
    [ "$app" = busybox ] || ln -sf busybox "$root/bin/$app"
  done
  echo "root:x:0:0:root:/:/bin/sh" > "$root/etc/passwd"
  echo "leasehold test page" > "$root/www/index.html"
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'CMD ["/bin/sh"]' \
    - "$IMAGE" >/dev/null
  echo "ensure-docker: built $IMAGE" >&2
fi
echo "ensure-docker: engine $(docker version --format '{{.Server.Version}}'), image $IMAGE" >&2
