#!/usr/bin/env bash
# Sets up a fresh machine for CellSync (idempotent): Debian's fuse + libfuse2
# (fuse-native loads libfuse.so.2), the npm dependencies, and the build.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v fusermount >/dev/null 2>&1 || need_apt+=(fuse)
ldconfig -p 2>/dev/null | grep -q 'libfuse\.so\.2' || need_apt+=(libfuse2)
# The tests drive the mount with everyday tools, and the dashboard under tmux.
# fuse-native is rebuilt from source with a fix (scripts/patch-fuse-native.sh): a C compiler and make.
command -v cc >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || need_apt+=(build-essential)
for tool in rsync git tmux python3; do command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool"); done
# A test puts a mount on another "machine": a network namespace (ip, nsenter).
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v nsenter >/dev/null 2>&1 || need_apt+=(util-linux)
# Cells run as systemd services: the suite checks the unit (systemd-analyze) and the readiness message (systemd-notify).
command -v systemd-analyze >/dev/null 2>&1 && command -v systemd-notify >/dev/null 2>&1 || need_apt+=(systemd)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]} (apt)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
./scripts/patch-fuse-native.sh
echo "setup: build"
npm run --silent build
echo "setup: done; run bin/cellsync --help"
