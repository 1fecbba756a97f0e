// WASM kernels of the built-in ops (matmul, reduce_sum, fft, sha256_batch, conv2d, mandelbrot,
// nbody_step), kernel ABI: the host
// calls reset(), alloc()s regions in the exported memory, copies inputs in, calls the kernel with
// offsets, copies outputs out. One source, two builds (scripts/build-wasm.sh): with -msimd128 the
// vector types below lower to WASM SIMD128; with -mno-simd128 the same code is scalarised, which
// gives the SIMD-vs-scalar ratio of the benchmark.
#include <stddef.h>
#include <stdint.h>
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#define EXPORT(name) __attribute__((export_name(#name)))

typedef float f32x4 __attribute__((vector_size(16)));
typedef float f32x4u __attribute__((vector_size(16), aligned(4)));
typedef uint32_t u32x4 __attribute__((vector_size(16)));
typedef int32_t i32x4 __attribute__((vector_size(16)));

// ---- bump allocator -------------------------------------------------------------------------

extern unsigned char __heap_base;
static uintptr_t heap_top;

EXPORT(reset) void reset(void) { heap_top = (uintptr_t)&__heap_base; }

// 16-byte aligned region of `size` bytes; 0 when memory cannot grow.
EXPORT(alloc) uint32_t alloc(uint32_t size) {
  if (heap_top == 0) reset();
  uintptr_t p = (heap_top + 15) & ~(uintptr_t)15;
  uintptr_t end = p + size;
  uintptr_t have = __builtin_wasm_memory_size(0) * 65536;
  if (end > have) {
    size_t pages = (end - have + 65535) / 65536;
    if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
  }
  heap_top = end;
  return (uint32_t)p;
}

static inline f32x4 load4(const float *p) { return *(const f32x4u *)p; }
static inline void store4(float *p, f32x4 v) { *(f32x4u *)p = v; }
static inline f32x4 splat4(float x) { return (f32x4){x, x, x, x}; }

static inline f32x4 sqrt4(f32x4 v) {
#ifdef __wasm_simd128__
  return (f32x4)wasm_f32x4_sqrt((v128_t)v);
#else
  return (f32x4){__builtin_sqrtf(v[0]), __builtin_sqrtf(v[1]), __builtin_sqrtf(v[2]), __builtin_sqrtf(v[3])};
#endif
}

// ---- matmul: c (m x n) = a (m x k) * b (k x n), row-major ---------------------------------------
// For each panel of 8 columns, b's panel is packed contiguous (k x 8: no 4 KiB-strided walks that
// alias in L1), then a register block of 4 rows x 8 columns (8 vector accumulators) sweeps down
// it. Scalar loops cover the edges.

EXPORT(matmul) void matmul(const float *a, const float *b, float *c, uint32_t m, uint32_t n, uint32_t k) {
  float *panel = (float *)(uintptr_t)alloc(k * 8 * sizeof(float));
  uint32_t j = 0;
  for (; panel != 0 && j + 8 <= n; j += 8) {
    for (uint32_t p = 0; p < k; p++) {
      store4(panel + 8 * p, load4(b + (size_t)p * n + j));
      store4(panel + 8 * p + 4, load4(b + (size_t)p * n + j + 4));
    }
    uint32_t i = 0;
    for (; i + 4 <= m; i += 4) {
      f32x4 acc[4][2] = {{0}};
      for (uint32_t p = 0; p < k; p++) {
        f32x4 b0 = load4(panel + 8 * p);
        f32x4 b1 = load4(panel + 8 * p + 4);
        for (int r = 0; r < 4; r++) {
          f32x4 av = splat4(a[(size_t)(i + r) * k + p]);
          acc[r][0] += av * b0;
          acc[r][1] += av * b1;
        }
      }
      for (int r = 0; r < 4; r++) {
        store4(c + (size_t)(i + r) * n + j, acc[r][0]);
        store4(c + (size_t)(i + r) * n + j + 4, acc[r][1]);
      }
    }
    for (; i < m; i++) {
      f32x4 acc0 = {0}, acc1 = {0};
      for (uint32_t p = 0; p < k; p++) {
        f32x4 av = splat4(a[(size_t)i * k + p]);
        acc0 += av * load4(panel + 8 * p);
        acc1 += av * load4(panel + 8 * p + 4);
      }
      store4(c + (size_t)i * n + j, acc0);
      store4(c + (size_t)i * n + j + 4, acc1);
    }
  }
  for (; j < n; j++) {
    for (uint32_t i = 0; i < m; i++) {
      float s = 0;
      for (uint32_t p = 0; p < k; p++) s += a[(size_t)i * k + p] * b[(size_t)p * n + j];
      c[(size_t)i * n + j] = s;
    }
  }
}

// ---- reduce_sum ---------------------------------------------------------------------------------
// Blocks of 1024 summed in four vector accumulators (f32), block sums added in f64, so the error
// stays at the f32 block level instead of growing with n.

EXPORT(reduce_sum) float reduce_sum(const float *x, uint32_t n) {
  double total = 0;
  uint32_t i = 0;
  while (i + 16 <= n) {
    uint32_t end = i + 1024 <= n ? i + 1024 : n - (n - i) % 16;
    f32x4 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
    for (; i < end; i += 16) {
      s0 += load4(x + i);
      s1 += load4(x + i + 4);
      s2 += load4(x + i + 8);
      s3 += load4(x + i + 12);
    }
    f32x4 s = (s0 + s1) + (s2 + s3);
    total += (double)((s[0] + s[1]) + (s[2] + s[3]));
  }
  for (; i < n; i++) total += x[i];
  return (float)total;
}

// ---- fft: batched radix-2 Stockham, same passes and twiddles as fft.wgsl -------------------------
// x and scratch hold batch * n complex values; returns the one holding the result. Each pass
// first gathers its twiddles tw[k * step] (k < ns) into stage (n floats of room, conjugated for
// the inverse), so the butterflies read twiddles, inputs and outputs contiguously.

EXPORT(fft) uint32_t fft(float *x, float *scratch, const float *tw, float *stage, uint32_t n, uint32_t batch,
                         uint32_t inverse) {
  uint32_t half = n / 2;
  float *src = x;
  float *dst = scratch;
  float sign = inverse ? -1.0f : 1.0f;
  for (uint32_t ns = 1; ns < n; ns *= 2) {
    uint32_t step = half / ns;
    for (uint32_t k = 0; k < ns; k++) {
      stage[2 * k] = tw[2 * (size_t)(k * step)];
      stage[2 * k + 1] = sign * tw[2 * (size_t)(k * step) + 1];
    }
    for (uint32_t bt = 0; bt < batch; bt++) {
      const float *s = src + (size_t)bt * n * 2;
      float *d = dst + (size_t)bt * n * 2;
      if (ns == 1) {
        for (uint32_t j = 0; j < half; j++) {
          float ar = s[2 * j], ai = s[2 * j + 1], br = s[2 * (j + half)], bi = s[2 * (j + half) + 1];
          d[4 * j] = ar + br;
          d[4 * j + 1] = ai + bi;
          d[4 * j + 2] = ar - br;
          d[4 * j + 3] = ai - bi;
        }
        continue;
      }
      // Butterfly j = g * ns + k reads s[j], s[j + half], writes d[2 g ns + k], d[2 g ns + k + ns].
      for (uint32_t g = 0; g < half / ns; g++) {
        const float *s0 = s + 2 * (size_t)g * ns;
        const float *s1 = s0 + (size_t)n;
        float *d0 = d + 4 * (size_t)g * ns;
        float *d1 = d0 + 2 * (size_t)ns;
        for (uint32_t k = 0; k < ns; k += 2) {
          f32x4 w = load4(stage + 2 * k);
          f32x4 x0 = load4(s0 + 2 * k);
          f32x4 x1 = load4(s1 + 2 * k);
          f32x4 wr = __builtin_shufflevector(w, w, 0, 0, 2, 2);
          f32x4 wi = __builtin_shufflevector(w, w, 1, 1, 3, 3);
          f32x4 sw = __builtin_shufflevector(x1, x1, 1, 0, 3, 2);
          f32x4 t = x1 * wr + sw * wi * (f32x4){-1, 1, -1, 1};
          store4(d0 + 2 * k, x0 + t);
          store4(d1 + 2 * k, x0 - t);
        }
      }
    }
    float *tmp = src;
    src = dst;
    dst = tmp;
  }
  return (uint32_t)src;
}

// ---- sha256_batch ---------------------------------------------------------------------------------

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};
static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// Big-endian word t (0..15) of block blk of the padded message.
static uint32_t padded_word(const uint8_t *msg, uint32_t len, uint32_t blocks, uint32_t blk, uint32_t t) {
  if (blk + 1 == blocks && t >= 14) return t == 14 ? len >> 29 : len << 3;
  uint32_t at = blk * 64 + t * 4;
  if (at + 4 <= len) {
    uint32_t v;
    __builtin_memcpy(&v, msg + at, 4);
    return __builtin_bswap32(v);
  }
  uint32_t w = 0;
  for (uint32_t b = 0; b < 4; b++) {
    uint32_t p = blk * 64 + t * 4 + b;
    uint32_t v = p < len ? msg[p] : (p == len ? 0x80 : 0);
    w = (w << 8) | v;
  }
  return w;
}

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

// One SHA-256 compression over 4 lanes (4 messages with the same block count); the scalar
// build runs the same code lane by lane.
static void compress4(u32x4 h[8], const u32x4 wi[16]) {
  u32x4 w[64];
  for (int t = 0; t < 16; t++) w[t] = wi[t];
  for (int t = 16; t < 64; t++) {
    u32x4 s0 = ROTR(w[t - 15], 7) ^ ROTR(w[t - 15], 18) ^ (w[t - 15] >> 3);
    u32x4 s1 = ROTR(w[t - 2], 17) ^ ROTR(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  u32x4 a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int t = 0; t < 64; t++) {
    u32x4 t1 = hh + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
    u32x4 t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

static void put_digest(uint8_t *out, const u32x4 h[8], int lane) {
  for (int i = 0; i < 8; i++) {
    uint32_t v = h[i][lane];
    out[4 * i] = v >> 24;
    out[4 * i + 1] = v >> 16;
    out[4 * i + 2] = v >> 8;
    out[4 * i + 3] = v;
  }
}

// Messages i..i+lanes-1 (lanes <= 4) must have the same block count; unused lanes are ignored.
static void hash_group(const uint8_t *data, const uint32_t *offsets, uint32_t i, int lanes, uint8_t *out) {
  uint32_t blocks = (offsets[i + 1] - offsets[i] + 9 + 63) / 64;
  u32x4 h[8];
  for (int j = 0; j < 8; j++) h[j] = (u32x4){H0[j], H0[j], H0[j], H0[j]};
  u32x4 w[16];
  for (uint32_t blk = 0; blk < blocks; blk++) {
    for (uint32_t t = 0; t < 16; t++) {
      for (int l = 0; l < 4; l++) {
        uint32_t m = i + (uint32_t)(l < lanes ? l : 0);
        w[t][l] = padded_word(data + offsets[m], offsets[m + 1] - offsets[m], blocks, blk, t);
      }
    }
    compress4(h, w);
  }
  for (int l = 0; l < lanes; l++) put_digest(out + (size_t)(i + l) * 32, h, l);
}

EXPORT(sha256_batch) void sha256_batch(const uint8_t *data, const uint32_t *offsets, uint32_t count, uint8_t *out) {
  uint32_t i = 0;
  while (i < count) {
    uint32_t blocks = (offsets[i + 1] - offsets[i] + 9 + 63) / 64;
    int lanes = 1;
    while (lanes < 4 && i + lanes < count &&
           (offsets[i + lanes + 1] - offsets[i + lanes] + 9 + 63) / 64 == blocks) {
      lanes++;
    }
    hash_group(data, offsets, i, lanes, out);
    i += (uint32_t)lanes;
  }
}

// ---- conv2d: correlation with clamp-to-edge, as conv2d.wgsl --------------------------------------
// Row by row: out_row += w * shifted source row for every kernel tap (ky outer, kx inner, the
// reference's order); the clamped edges are scalar, the interior four pixels at a time.

EXPORT(conv2d) void conv2d(const float *img, const float *ker, float *out, uint32_t w, uint32_t h, uint32_t kw,
                           uint32_t kh) {
  int rx = (int)(kw / 2), ry = (int)(kh / 2);
  for (uint32_t y = 0; y < h; y++) {
    float *o = out + (size_t)y * w;
    for (uint32_t x = 0; x < w; x++) o[x] = 0;
    for (uint32_t ky = 0; ky < kh; ky++) {
      int sy = (int)y + (int)ky - ry;
      sy = sy < 0 ? 0 : (sy > (int)h - 1 ? (int)h - 1 : sy);
      const float *row = img + (size_t)sy * w;
      for (uint32_t kx = 0; kx < kw; kx++) {
        float wv = ker[ky * kw + kx];
        int off = (int)kx - rx;
        // Pixels [lo, hi) read row[x + off] in bounds; below lo clamp to row[0], from hi to row[w - 1].
        int lo = off < 0 ? -off : 0;
        int hi = (int)w - (off > 0 ? off : 0);
        if (lo > (int)w) lo = (int)w;
        if (hi < lo) hi = lo;
        int x = 0;
        for (; x < lo; x++) o[x] += wv * row[0];
        f32x4 wv4 = splat4(wv);
        for (; x + 4 <= hi; x += 4) store4(o + x, load4(o + x) + wv4 * load4(row + x + off));
        for (; x < hi; x++) o[x] += wv * row[x + off];
        for (; x < (int)w; x++) o[x] += wv * row[w - 1];
      }
    }
  }
}

// ---- mandelbrot: escape-time iterations, as mandelbrot.wgsl (same f32 operations) -------------------
// Four pixels of a row per vector; a lane stops counting once it escapes.

EXPORT(mandelbrot) void mandelbrot(uint32_t *out, uint32_t w, uint32_t h, uint32_t max_iter, float x0, float y0,
                                   float dx, float dy) {
  for (uint32_t y = 0; y < h; y++) {
    f32x4 cy = splat4(y0 + ((float)y + 0.5f) * dy);
    for (uint32_t x = 0; x < w; x += 4) {
      f32x4 cx;
      for (int l = 0; l < 4; l++) cx[l] = x0 + ((float)(x + (uint32_t)l) + 0.5f) * dx;
      f32x4 zx = splat4(0), zy = splat4(0);
      i32x4 active = {-1, -1, -1, -1};
      u32x4 count = {0, 0, 0, 0};
      for (uint32_t i = 0; i < max_iter; i++) {
        f32x4 zx2 = zx * zx;
        f32x4 zy2 = zy * zy;
        active &= ~(i32x4)(zx2 + zy2 > splat4(4.0f));
        if ((active[0] | active[1] | active[2] | active[3]) == 0) break;
        f32x4 nzy = (zx + zx) * zy + cy;
        f32x4 nzx = (zx2 - zy2) + cx;
        // Escaped lanes keep their z (no overflow into NaN) and their count.
        zx = (f32x4)(((i32x4)nzx & active) | ((i32x4)zx & ~active));
        zy = (f32x4)(((i32x4)nzy & active) | ((i32x4)zy & ~active));
        count += (u32x4)active & 1;
      }
      for (uint32_t l = 0; l < 4 && x + l < w; l++) out[(size_t)y * w + x + l] = count[l];
    }
  }
}

// ---- nbody_step: all-pairs gravity step, as nbody_step.wgsl ------------------------------------------
// Positions and masses are first copied to structure-of-arrays form in soa (4n floats), then four
// target bodies share each source body's broadcast.

EXPORT(nbody_step) void nbody_step(const float *bodies, float *next, float *soa, uint32_t n, float dt, float eps2) {
  float *px = soa, *py = soa + n, *pz = soa + 2 * (size_t)n, *pm = soa + 3 * (size_t)n;
  for (uint32_t i = 0; i < n; i++) {
    px[i] = bodies[8 * (size_t)i];
    py[i] = bodies[8 * (size_t)i + 1];
    pz[i] = bodies[8 * (size_t)i + 2];
    pm[i] = bodies[8 * (size_t)i + 3];
  }
  for (uint32_t i = 0; i < n; i += 4) {
    f32x4 xi, yi, zi;
    for (int l = 0; l < 4; l++) {
      uint32_t b = i + (uint32_t)l < n ? i + (uint32_t)l : i;
      xi[l] = px[b];
      yi[l] = py[b];
      zi[l] = pz[b];
    }
    f32x4 ax = splat4(0), ay = splat4(0), az = splat4(0);
    f32x4 e2 = splat4(eps2);
    for (uint32_t j = 0; j < n; j++) {
      f32x4 ddx = splat4(px[j]) - xi;
      f32x4 ddy = splat4(py[j]) - yi;
      f32x4 ddz = splat4(pz[j]) - zi;
      f32x4 r2 = ddx * ddx + ddy * ddy + ddz * ddz + e2;
      f32x4 inv = splat4(1.0f) / sqrt4(r2);
      f32x4 s = splat4(pm[j]) * inv * inv * inv;
      ax += ddx * s;
      ay += ddy * s;
      az += ddz * s;
    }
    for (uint32_t l = 0; l < 4 && i + l < n; l++) {
      const float *b = bodies + 8 * (size_t)(i + l);
      float *o = next + 8 * (size_t)(i + l);
      float vx = b[4] + ax[l] * dt, vy = b[5] + ay[l] * dt, vz = b[6] + az[l] * dt;
      o[0] = b[0] + vx * dt;
      o[1] = b[1] + vy * dt;
      o[2] = b[2] + vz * dt;
      o[3] = b[3];
      o[4] = vx;
      o[5] = vy;
      o[6] = vz;
      o[7] = 0;
    }
  }
}
