// histogram: counts[b] = number of values v with min(v >> shift, bins - 1) == b.
// Each workgroup counts a grid-strided share of the values into workgroup-memory atomics, then
// adds its non-zero counts to the global atomics.
struct Params {
  n: u32,
  bins: u32,
  shift: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> values: array<u32>;
@group(0) @binding(2) var<storage, read_write> counts: array<atomic<u32>>;

var<workgroup> local_counts: array<atomic<u32>, 4096>;

@compute @workgroup_size(256)
fn histogram(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  for (var b = lid.x; b < params.bins; b = b + 256u) {
    atomicStore(&local_counts[b], 0u);
  }
  workgroupBarrier();
  let stride = nwg.x * 256u;
  for (var i = wid.x * 256u + lid.x; i < params.n; i = i + stride) {
    let bin = min(values[i] >> params.shift, params.bins - 1u);
    atomicAdd(&local_counts[bin], 1u);
  }
  workgroupBarrier();
  for (var b = lid.x; b < params.bins; b = b + 256u) {
    let c = atomicLoad(&local_counts[b]);
    if (c != 0u) {
      atomicAdd(&counts[b], c);
    }
  }
}
