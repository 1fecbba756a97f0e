#!/usr/bin/env bash
# Installs everything a fresh clone needs: Debian packages (the capnp reference tool, Chromium,
# the WASI C toolchain) and npm dependencies. Idempotent and quick when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-apt.sh capnproto chromium clang lld wasi-libc libclang-rt-14-dev-wasm32 postgresql prometheus ffmpeg openssl nginx
# Neither command writes package-lock.json, so a fresh clone's `npm start` leaves `git status`
# clean whatever npm version runs it (npm 10, Node 20's own, drops the `libc` fields npm 11
# records when `npm install` saves the lockfile). The lockfile lists every platform's optional
# binaries, so `npm ci` accepts it anywhere.
if [ ! -d node_modules ]; then
  echo "flock: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
elif [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # The lockfile changed since the last install (a pull, a checkout): update node_modules in place
  # rather than wiping it as npm ci would, and leave the lockfile as committed.
  echo "flock: updating npm dependencies to package-lock.json (npm install --no-save)"
  npm install --no-save --no-audit --no-fund
fi
