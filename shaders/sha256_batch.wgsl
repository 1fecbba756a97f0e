// sha256_batch: the SHA-256 digest of each of `count` messages, one invocation per message.
// Messages are byte ranges data[offsets[i] .. offsets[i + 1]) of the packed bytes (little-endian
// in each u32 word); padding is applied on the fly. digests[i * 8 .. i * 8 + 8) receive the digest
// words byte-swapped, so the buffer's bytes are the standard big-endian digest.
struct Params {
  count: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> data: array<u32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
@group(0) @binding(3) var<storage, read_write> digests: array<u32>;

var<private> K: array<u32, 64> = array<u32, 64>(
  0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
  0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
  0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
  0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
  0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
  0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
  0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
  0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
);

fn bswap(x: u32) -> u32 {
  return (x << 24u) | ((x << 8u) & 0x00ff0000u) | ((x >> 8u) & 0x0000ff00u) | (x >> 24u);
}

fn rotr(x: u32, n: u32) -> u32 {
  return (x >> n) | (x << (32u - n));
}

fn byte_at(i: u32) -> u32 {
  return (data[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu;
}

// Big-endian word at byte position pos of the padded message (length len, starting at start).
fn padded_word(start: u32, len: u32, pos: u32) -> u32 {
  if (pos + 3u < len) {
    // All four bytes are message bytes: one or two aligned loads and a funnel shift.
    let addr = start + pos;
    let shift = (addr & 3u) * 8u;
    var word = data[addr >> 2u];
    if (shift != 0u) {
      word = (word >> shift) | (data[(addr >> 2u) + 1u] << (32u - shift));
    }
    return bswap(word);
  }
  var w = 0u;
  for (var b = 0u; b < 4u; b = b + 1u) {
    let p = pos + b;
    var v = 0u;
    if (p < len) {
      v = byte_at(start + p);
    } else if (p == len) {
      v = 0x80u;
    }
    w = (w << 8u) | v;
  }
  return w;
}

// Workgroups form a 2D grid when count needs more than 65535 of them.
@compute @workgroup_size(64)
fn sha256_batch(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let m = (wid.y * nwg.x + wid.x) * 64u + lid.x;
  if (m >= params.count) {
    return;
  }
  let start = offsets[m];
  let len = offsets[m + 1u] - start;
  let blocks = (len + 9u + 63u) / 64u;
  var h = array<u32, 8>(
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
  );
  // The message schedule as a rolling window of 16 words (w[t & 15]), not 64: less private memory.
  var w: array<u32, 16>;
  for (var blk = 0u; blk < blocks; blk = blk + 1u) {
    for (var t = 0u; t < 16u; t = t + 1u) {
      w[t] = padded_word(start, len, blk * 64u + t * 4u);
    }
    if (blk + 1u == blocks) {
      // Bit length as a 64-bit big-endian integer in the last 8 bytes.
      w[14] = len >> 29u;
      w[15] = len << 3u;
    }
    var a = h[0];
    var b = h[1];
    var c = h[2];
    var d = h[3];
    var e = h[4];
    var f = h[5];
    var g = h[6];
    var hh = h[7];
    for (var t = 0u; t < 64u; t = t + 1u) {
      if (t >= 16u) {
        let w15 = w[(t + 1u) & 15u];
        let w2 = w[(t + 14u) & 15u];
        let s0 = rotr(w15, 7u) ^ rotr(w15, 18u) ^ (w15 >> 3u);
        let s1 = rotr(w2, 17u) ^ rotr(w2, 19u) ^ (w2 >> 10u);
        w[t & 15u] = w[t & 15u] + s0 + w[(t + 9u) & 15u] + s1;
      }
      let s1 = rotr(e, 6u) ^ rotr(e, 11u) ^ rotr(e, 25u);
      let ch = (e & f) ^ (~e & g);
      let t1 = hh + s1 + ch + K[t] + w[t & 15u];
      let s0 = rotr(a, 2u) ^ rotr(a, 13u) ^ rotr(a, 22u);
      let maj = (a & b) ^ (a & c) ^ (b & c);
      let t2 = s0 + maj;
      hh = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h[0] = h[0] + a;
    h[1] = h[1] + b;
    h[2] = h[2] + c;
    h[3] = h[3] + d;
    h[4] = h[4] + e;
    h[5] = h[5] + f;
    h[6] = h[6] + g;
    h[7] = h[7] + hh;
  }
  for (var i = 0u; i < 8u; i = i + 1u) {
    digests[m * 8u + i] = bswap(h[i]);
  }
}
