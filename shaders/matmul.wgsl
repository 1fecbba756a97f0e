// matmul: c = a * b for row-major f32 matrices a (m x k), b (k x n), c (m x n).
// Each 16x16 workgroup computes a 64x64 tile of c, each invocation a 4x4 block of it, stepping
// through k in slices of 16 staged in workgroup memory. Edges are zero-padded, so any m, n, k work.
struct Params {
  m: u32,
  n: u32,
  k: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

const TILE: u32 = 64u;
const SLICE: u32 = 16u;

// a_tile[kk * 64 + row] (a slice, transposed), b_tile[kk * 64 + col].
var<workgroup> a_tile: array<f32, 1024>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16)
fn matmul(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let row0 = wid.y * TILE;
  let col0 = wid.x * TILE;
  let t = lid.y * 16u + lid.x;
  var acc = array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  for (var k0 = 0u; k0 < params.k; k0 = k0 + SLICE) {
    for (var e = 0u; e < 4u; e = e + 1u) {
      let idx = t + e * 256u;
      let r = idx / SLICE;
      let kk = idx % SLICE;
      var v = 0.0;
      if (row0 + r < params.m && k0 + kk < params.k) {
        v = a[(row0 + r) * params.k + k0 + kk];
      }
      a_tile[kk * TILE + r] = v;
    }
    // b slice: 16 rows of 64 columns, one vec4 per invocation.
    let kb = t / 16u;
    let cb = (t % 16u) * 4u;
    var w = vec4<f32>(0.0);
    if (k0 + kb < params.k) {
      let base = (k0 + kb) * params.n + col0 + cb;
      if (col0 + cb < params.n) { w.x = b[base]; }
      if (col0 + cb + 1u < params.n) { w.y = b[base + 1u]; }
      if (col0 + cb + 2u < params.n) { w.z = b[base + 2u]; }
      if (col0 + cb + 3u < params.n) { w.w = b[base + 3u]; }
    }
    b_tile[t] = w;
    workgroupBarrier();
    for (var kk = 0u; kk < SLICE; kk = kk + 1u) {
      let bv = b_tile[kk * 16u + lid.x];
      let ab = kk * TILE + lid.y * 4u;
      acc[0] = acc[0] + a_tile[ab] * bv;
      acc[1] = acc[1] + a_tile[ab + 1u] * bv;
      acc[2] = acc[2] + a_tile[ab + 2u] * bv;
      acc[3] = acc[3] + a_tile[ab + 3u] * bv;
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i = i + 1u) {
    let row = row0 + lid.y * 4u + i;
    if (row < params.m) {
      let col = col0 + lid.x * 4u;
      let out = acc[i];
      for (var j = 0u; j < 4u; j = j + 1u) {
        if (col + j < params.n) {
          c[row * params.n + col + j] = out[j];
        }
      }
    }
  }
}
