#!/usr/bin/env bash
# Compiles the C test and benchmark programs in fixtures/ to WebAssembly with Debian's clang, lld
# and wasi-libc (sysroot /usr). Output: build/fixtures/*.wasm (never committed).
#   WASI commands: clang --target=wasm32-wasi --sysroot=/usr -O2
#   Kernel ABI:    clang --target=wasm32 -nostdlib, imported memory, no entry point
set -euo pipefail
# clang runs wasm-opt after linking when it finds one on PATH, and `npm run` puts binaryen's (a
# coordinator dependency) there: the same C would then build to different modules under npm and
# by hand. Leave node_modules/.bin off PATH so every build is clang's own output.
PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v '/node_modules/' | paste -sd: -)
export PATH
cd "$(dirname "$0")/.."
out=build/fixtures
mkdir -p "$out"
CC=${CC:-clang}
wasi=(--target=wasm32-wasi --sysroot=/usr -O2 -Wl,--strip-debug)
for name in wasi-echo empty exit-code infinite-loop memory-bomb huge-output huge-file spin fuel-work cooperative \
  out-tree exit-with-files assert-fail tree-walk poll-sockets args-size random-bytes; do
  "$CC" "${wasi[@]}" "fixtures/$name.c" -o "$out/$name.wasm"
done
# A module that imports a function no ABI provides: linking must leave the import undefined.
"$CC" "${wasi[@]}" -Wl,--allow-undefined fixtures/forbidden-import.c -o "$out/forbidden-import.wasm"
kernel=(--target=wasm32 -nostdlib -O3 -Wl,--no-entry -Wl,--import-memory -Wl,--export=__heap_base
  -Wl,--strip-debug)
# Shared imported memory: the tab lays a sab-bridge arena into it and the kernel works in place.
shared=(-matomics -mbulk-memory -Wl,--shared-memory -Wl,--max-memory=1073741824)
"$CC" "${kernel[@]}" "${shared[@]}" -msimd128 fixtures/kernel-poly.c -o "$out/kernel-poly-simd.wasm"
"$CC" "${kernel[@]}" "${shared[@]}" -mno-simd128 fixtures/kernel-poly.c -o "$out/kernel-poly-scalar.wasm"
# Hostile (reads what other jobs left in the arena) and cooperating (polls its stop word).
"$CC" "${kernel[@]}" "${shared[@]}" fixtures/kernel-snoop.c -o "$out/kernel-snoop.wasm"
"$CC" "${kernel[@]}" "${shared[@]}" fixtures/kernel-wait.c -o "$out/kernel-wait.wasm"
# Unshared imported memory: runs on the copy path (inputs copied into a private memory).
"$CC" "${kernel[@]}" fixtures/kernel-empty.c -o "$out/kernel-empty.wasm"
"$CC" "${kernel[@]}" -msimd128 fixtures/kernel-poly.c -o "$out/kernel-poly-private.wasm"
echo "worker-web: built $(ls "$out" | wc -l) fixtures into $out"
