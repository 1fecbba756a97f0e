// mandelbrot: escape-time iterations of z <- z^2 + c, z0 = 0, for the pixel centres of a
// width x height viewport. c = (x0 + (px + 0.5) * dx, y0 + (py + 0.5) * dy); iterations stop
// when |z|^2 > 4 or at max_iter. Only correctly rounded f32 add/mul, so a CPU emulating f32
// (Math.fround) reproduces it.
struct Params {
  width: u32,
  height: u32,
  max_iter: u32,
  x0: f32,
  y0: f32,
  dx: f32,
  dy: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> iterations: array<u32>;

@compute @workgroup_size(16, 16)
fn mandelbrot(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.width || gid.y >= params.height) {
    return;
  }
  let cx = params.x0 + (f32(gid.x) + 0.5) * params.dx;
  let cy = params.y0 + (f32(gid.y) + 0.5) * params.dy;
  var zx = 0.0;
  var zy = 0.0;
  var i = 0u;
  loop {
    if (i >= params.max_iter) {
      break;
    }
    let zx2 = zx * zx;
    let zy2 = zy * zy;
    if (zx2 + zy2 > 4.0) {
      break;
    }
    zy = (zx + zx) * zy + cy;
    zx = (zx2 - zy2) + cx;
    i = i + 1u;
  }
  iterations[gid.y * params.width + gid.x] = i;
}
