#!/usr/bin/env bash
# Builds the kernel-ABI example module (kernels/*.c) into build/ for the zero-copy WASM test and
# bench. Needs clang and wasm-ld (Debian clang-14, lld). The .wasm is not committed.
set -euo pipefail
# clang runs wasm-opt after linking when it finds one on PATH, and `npm run` puts binaryen's (a
# coordinator dependency) there: the same C would then build to different modules under npm and
# by hand. Leave node_modules/.bin off PATH so every build is clang's own output.
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/node_modules/' | paste -sd: -)
export PATH
cd "$(dirname "$0")/.."
CLANG="${CLANG:-$(command -v clang || command -v clang-14)}"
mkdir -p build
# Shared, imported memory so the module works on the bridge's SharedArrayBuffer in place:
# --shared-memory needs atomics + bulk-memory; the 64 KiB stack and data sit below __heap_base,
# which the host checks against the bridge's offset (assertBelowBridge).
"$CLANG" --target=wasm32 -nostdlib -O2 -matomics -mbulk-memory \
  -Wl,--no-entry -Wl,--import-memory -Wl,--shared-memory \
  -Wl,--initial-memory=131072 -Wl,--max-memory=1073741824 \
  -Wl,-z,stack-size=32768 -Wl,--export=__heap_base \
  -o build/f32.wasm kernels/f32.c
echo "built $(pwd)/build/f32.wasm ($(stat -c %s build/f32.wasm) bytes)"
