// conv2d: image filter. out[y][x] = sum over (ky, kx) of kernel[ky][kx] *
// image[clamp(y + ky - kh/2)][clamp(x + kx - kw/2)]: a correlation (the kernel is not flipped)
// with clamp-to-edge borders, output the size of the image.
struct Params {
  width: u32,
  height: u32,
  kw: u32,
  kh: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> image: array<f32>;
@group(0) @binding(2) var<storage, read> kernel: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(16, 16)
fn conv2d(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x >= params.width || gid.y >= params.height) {
    return;
  }
  let rx = i32(params.kw / 2u);
  let ry = i32(params.kh / 2u);
  let max_x = i32(params.width) - 1;
  let max_y = i32(params.height) - 1;
  var acc = 0.0;
  for (var ky = 0u; ky < params.kh; ky = ky + 1u) {
    let sy = u32(clamp(i32(gid.y) + i32(ky) - ry, 0, max_y));
    for (var kx = 0u; kx < params.kw; kx = kx + 1u) {
      let sx = u32(clamp(i32(gid.x) + i32(kx) - rx, 0, max_x));
      acc = acc + kernel[ky * params.kw + kx] * image[sy * params.width + sx];
    }
  }
  out[gid.y * params.width + gid.x] = acc;
}
