// Kernel-ABI example: f32 kernels that work in place on regions of a shared WebAssembly.Memory
// (the sab-bridge arena). Pointers are byte offsets in that memory; lengths are element counts.
// Built by scripts/build-wasm.sh; no libc, no imports but the memory.

#define EXPORT(name) __attribute__((export_name(name)))

// Multiplies n floats at p by k, in place.
EXPORT("scale_f32") void scale_f32(float *p, unsigned n, float k) {
  for (unsigned i = 0; i < n; i++) p[i] *= k;
}

// Sums n floats at p in double precision, in order (the JS reference adds the same way).
EXPORT("sum_f32") double sum_f32(const float *p, unsigned n) {
  double s = 0;
  for (unsigned i = 0; i < n; i++) s += p[i];
  return s;
}

// Writes the sum of a[i] and b[i] to out[i]: two inputs and an output, all in the arena.
EXPORT("add_f32") void add_f32(const float *a, const float *b, float *out, unsigned n) {
  for (unsigned i = 0; i < n; i++) out[i] = a[i] + b[i];
}
