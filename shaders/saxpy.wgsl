// saxpy: out[i] = a * x[i] + y[i] over n f32 elements.
struct Params {
  n: u32,
  a: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Workgroups form a 2D grid when n needs more than 65535 of them; the linear index spans both.
@compute @workgroup_size(256)
fn saxpy(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid.x;
  if (i < params.n) {
    out[i] = params.a * x[i] + y[i];
  }
}
