// fft: one radix-2 Stockham pass over `batch` complex transforms of size n (a power of two).
// Pass s (ns = 2^s sub-transform size) reads src and writes dst; the host runs log2(n) passes,
// swapping the two buffers. Twiddles come precomputed (f64, rounded to f32): twiddles[t] =
// exp(-2 pi i t / n) for t < n / 2, conjugated for the inverse transform (unnormalised).
struct Params {
  n: u32,
  batch: u32,
  ns: u32,
  inverse: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> twiddles: array<vec2<f32>>;

// Workgroups form a 2D grid when batch * n / 2 needs more than 65535 of them.
@compute @workgroup_size(256)
fn fft(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let idx = (wid.y * nwg.x + wid.x) * 256u + lid.x;
  let half = params.n >> 1u;
  if (idx >= half * params.batch) {
    return;
  }
  let base = (idx / half) * params.n;
  let j = idx % half;
  let k = j & (params.ns - 1u);
  var w = twiddles[k * (half / params.ns)];
  if (params.inverse != 0u) {
    w.y = -w.y;
  }
  let x0 = src[base + j];
  let x1 = src[base + j + half];
  let t = vec2<f32>(w.x * x1.x - w.y * x1.y, w.x * x1.y + w.y * x1.x);
  let out = base + (j - k) * 2u + k;
  dst[out] = x0 + t;
  dst[out + params.ns] = x0 - t;
}
