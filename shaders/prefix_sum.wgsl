// prefix_sum: inclusive scan of u32 values (wrapping add), in place on `data`.
// phase 0: each workgroup scans its block of 256 (Hillis-Steele in workgroup memory) and writes
//          the block total to sums[workgroup];
// phase 1: each block adds the scanned total of all earlier blocks, sums[workgroup - 1].
// The host scans the block totals the same way, level by level, between the two phases.
// Blocks are numbered across a 2D grid of workgroups; workgroups past the last block return.
struct Params {
  n: u32,
  phase: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> data: array<u32>;
@group(0) @binding(2) var<storage, read_write> sums: array<u32>;

var<workgroup> tile: array<u32, 256>;

@compute @workgroup_size(256)
fn prefix_sum(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let block = wid.y * nwg.x + wid.x;
  if (block * 256u >= params.n) {
    return;
  }
  let i = block * 256u + lid.x;
  if (params.phase == 0u) {
    var v = 0u;
    if (i < params.n) {
      v = data[i];
    }
    tile[lid.x] = v;
    workgroupBarrier();
    for (var offset = 1u; offset < 256u; offset = offset << 1u) {
      var t = 0u;
      if (lid.x >= offset) {
        t = tile[lid.x - offset];
      }
      workgroupBarrier();
      tile[lid.x] = tile[lid.x] + t;
      workgroupBarrier();
    }
    if (i < params.n) {
      data[i] = tile[lid.x];
    }
    if (lid.x == 255u) {
      sums[block] = tile[255];
    }
  } else if (block > 0u && i < params.n) {
    data[i] = data[i] + sums[block - 1u];
  }
}
