// nbody_step: one symplectic-Euler step of an all-pairs gravitational system (G = 1).
// Body layout (8 f32): position xyz, mass, velocity xyz, 0. a_i = sum_j m_j d / (|d|^2 + eps^2)^1.5
// with d = p_j - p_i; then v += a dt, p += v dt. Positions are staged through workgroup memory
// 256 bodies at a time; padding bodies have mass 0.
struct Params {
  n: u32,
  dt: f32,
  eps2: f32,
}
struct Body {
  pos: vec4<f32>,
  vel: vec4<f32>,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> bodies: array<Body>;
@group(0) @binding(2) var<storage, read_write> next: array<Body>;

var<workgroup> tile: array<vec4<f32>, 256>;

@compute @workgroup_size(256)
fn nbody_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = gid.x;
  var p = vec4<f32>(0.0);
  if (i < params.n) {
    p = bodies[i].pos;
  }
  var acc = vec3<f32>(0.0);
  for (var base = 0u; base < params.n; base = base + 256u) {
    let j = base + lid.x;
    if (j < params.n) {
      tile[lid.x] = bodies[j].pos;
    } else {
      tile[lid.x] = vec4<f32>(0.0);
    }
    workgroupBarrier();
    for (var t = 0u; t < 256u; t = t + 1u) {
      let q = tile[t];
      let d = q.xyz - p.xyz;
      let inv = inverseSqrt(dot(d, d) + params.eps2);
      acc = acc + d * (q.w * inv * inv * inv);
    }
    workgroupBarrier();
  }
  if (i < params.n) {
    let v = bodies[i].vel.xyz + acc * params.dt;
    next[i] = Body(vec4<f32>(p.xyz + v * params.dt, p.w), vec4<f32>(v, 0.0));
  }
}
