// reduce_sum: one pass of a tree reduction. Each workgroup sums a block of 512 elements of `src`
// (two per invocation, then a halving tree in workgroup memory) into dst[block]. The host
// repeats passes over the partial sums until one value is left. Blocks are numbered across a 2D
// grid of workgroups (more than 65535 blocks); workgroups past the last block return at once.
struct Params {
  n: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

var<workgroup> scratch: array<f32, 256>;

@compute @workgroup_size(256)
fn reduce_sum(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let block = wid.y * nwg.x + wid.x;
  if (block * 512u >= params.n) {
    return;
  }
  let base = block * 512u + lid.x;
  var v = 0.0;
  if (base < params.n) {
    v = src[base];
  }
  if (base + 256u < params.n) {
    v = v + src[base + 256u];
  }
  scratch[lid.x] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s = s >> 1u) {
    if (lid.x < s) {
      scratch[lid.x] = scratch[lid.x] + scratch[lid.x + s];
    }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    dst[block] = scratch[0];
  }
}
