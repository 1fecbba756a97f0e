#!/usr/bin/env bash
# Installs everything a fresh clone needs: Debian packages (the capnp reference tool, Chromium,
# the WASI C toolchain) and npm dependencies. Idempotent and quick when nothing is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-apt.sh capnproto chromium clang lld wasi-libc libclang-rt-14-dev-wasm32 postgresql
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "flock: installing npm dependencies"
  # `npm install`, not `npm ci`: the lockfile records only this platform's optional binaries
  # (Biome's), which npm ci treats as out of sync. install still follows the locked versions.
  npm install --no-audit --no-fund
fi
