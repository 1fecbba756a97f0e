// Generated from the method schemas of @flock/libraries by
// `npx tsx packages/client/scripts/gen-library-params.ts`: do not edit by hand.

/** The params of each library op, as its schema declares them (defaults filled in by the coordinator). */
export interface LibraryParams {
  /** Resize to a width and/or height, with a fit and a resampling kernel (lanczos3 by default) */
  "image.resize": {
    /** target width, pixels (give width, height or both) (1..16384) */
    width?: number;
    /** target height, pixels (1..16384) */
    height?: number;
    /** with both sides: cover (crop to fill), contain (pad with black), fill (stretch), inside, outside (default "cover") */
    fit?: "cover" | "contain" | "fill" | "inside" | "outside";
    /** resampling kernel (default "lanczos3") */
    kernel?: "nearest" | "linear" | "cubic" | "mitchell" | "lanczos2" | "lanczos3";
    /** output format (default: the input's; GIF inputs give PNG) */
    format?: "jpeg" | "png" | "webp";
    /** JPEG and WebP quality (PNG is lossless) (1..100; default 80) */
    quality?: number;
  };
  /** Turn upright (EXIF), then shrink to fit a box; never enlarges */
  "image.thumbnail": {
    /** box width, pixels (1..16384) */
    width: number;
    /** box height, pixels (default: width) (1..16384) */
    height?: number;
    /** inside (whole image in the box) or cover (fill the box, centre crop) (default "inside") */
    fit?: "inside" | "cover";
    /** output format (default: the input's; GIF inputs give PNG) */
    format?: "jpeg" | "png" | "webp";
    /** JPEG and WebP quality (PNG is lossless) (1..100; default 80) */
    quality?: number;
  };
  /** Cut out an area (it must lie inside the image) */
  "image.crop": {
    /** left edge, pixels from the left (0..16384; default 0) */
    left?: number;
    /** top edge, pixels from the top (0..16384; default 0) */
    top?: number;
    /** width of the area, pixels (1..16384) */
    width: number;
    /** height of the area, pixels (1..16384) */
    height: number;
    /** output format (default: the input's; GIF inputs give PNG) */
    format?: "jpeg" | "png" | "webp";
    /** JPEG and WebP quality (PNG is lossless) (1..100; default 80) */
    quality?: number;
  };
  /** Turn upright (EXIF orientation), then rotate by 90, 180 or 270 degrees */
  "image.rotate": {
    /** clockwise degrees: 0, 90, 180 or 270 (0..270; default 0) */
    angle?: number;
    /** first turn the image upright as its EXIF orientation says (default true) */
    auto_orient?: boolean;
    /** output format (default: the input's; GIF inputs give PNG) */
    format?: "jpeg" | "png" | "webp";
    /** JPEG and WebP quality (PNG is lossless) (1..100; default 80) */
    quality?: number;
  };
  /** Mirror horizontally or vertically */
  "image.flip": {
    /** horizontal (mirror left-right) or vertical (upside down) */
    direction: "horizontal" | "vertical";
    /** output format (default: the input's; GIF inputs give PNG) */
    format?: "jpeg" | "png" | "webp";
    /** JPEG and WebP quality (PNG is lossless) (1..100; default 80) */
    quality?: number;
  };
  /** Convert to one-channel grey (alpha kept) */
  "image.grayscale": {
    /** output format (default: the input's; GIF inputs give PNG) */
    format?: "jpeg" | "png" | "webp";
    /** JPEG and WebP quality (PNG is lossless) (1..100; default 80) */
    quality?: number;
  };
  /** Gaussian blur */
  "image.blur": {
    /** Gaussian sigma, pixels (0.3..100) */
    sigma: number;
    /** output format (default: the input's; GIF inputs give PNG) */
    format?: "jpeg" | "png" | "webp";
    /** JPEG and WebP quality (PNG is lossless) (1..100; default 80) */
    quality?: number;
  };
  /** Brightness and contrast: out = contrast × (in − 128) + 128 + brightness, alpha untouched */
  "image.linear": {
    /** added to every colour value (0..255 scale) (-255..255; default 0) */
    brightness?: number;
    /** gain about mid-grey (1: unchanged) (0..10; default 1) */
    contrast?: number;
    /** output format (default: the input's; GIF inputs give PNG) */
    format?: "jpeg" | "png" | "webp";
    /** JPEG and WebP quality (PNG is lossless) (1..100; default 80) */
    quality?: number;
  };
  /** Negative of the colour channels, alpha untouched */
  "image.invert": {
    /** output format (default: the input's; GIF inputs give PNG) */
    format?: "jpeg" | "png" | "webp";
    /** JPEG and WebP quality (PNG is lossless) (1..100; default 80) */
    quality?: number;
  };
  /** Re-encode as JPEG, PNG or WebP */
  "image.convert": {
    /** output format (default: the input's; GIF inputs give PNG) */
    format: "jpeg" | "png" | "webp";
    /** JPEG and WebP quality (PNG is lossless) (1..100; default 80) */
    quality?: number;
  };
  /** Steps applied in order ({op, ...its params}: any method but convert), then one encode */
  "image.pipeline": {
    /** the steps, in order */
    steps: ReadonlyArray<{
      /** the operation: a single-step method */
      op: "resize" | "thumbnail" | "crop" | "rotate" | "flip" | "grayscale" | "blur" | "linear" | "invert";
      /** resize, thumbnail, crop: target width, pixels (give width, height or both) (1..16384) */
      width?: number;
      /** resize, thumbnail, crop: target height, pixels (1..16384) */
      height?: number;
      /** resize, thumbnail: with both sides: cover (crop to fill), contain (pad with black), fill (stretch), inside, outside */
      fit?: "cover" | "contain" | "fill" | "inside" | "outside";
      /** resize: resampling kernel */
      kernel?: "nearest" | "linear" | "cubic" | "mitchell" | "lanczos2" | "lanczos3";
      /** crop: left edge, pixels from the left (0..16384) */
      left?: number;
      /** crop: top edge, pixels from the top (0..16384) */
      top?: number;
      /** rotate: clockwise degrees: 0, 90, 180 or 270 (0..270) */
      angle?: number;
      /** rotate: first turn the image upright as its EXIF orientation says */
      auto_orient?: boolean;
      /** flip: horizontal (mirror left-right) or vertical (upside down) */
      direction?: "horizontal" | "vertical";
      /** blur: Gaussian sigma, pixels (0.3..100) */
      sigma?: number;
      /** linear: added to every colour value (0..255 scale) (-255..255) */
      brightness?: number;
      /** linear: gain about mid-grey (1: unchanged) (0..10) */
      contrast?: number;
    }>;
    /** output format (default: the input's; GIF inputs give PNG) */
    format?: "jpeg" | "png" | "webp";
    /** JPEG and WebP quality (PNG is lossless) (1..100; default 80) */
    quality?: number;
  };
  /** One SQL SELECT over the inputs, each loaded as a table named after its file (sales.csv -> sales) */
  "data.query": {
    /** one SELECT (or WITH ... SELECT) statement; ORDER BY it for a byte-exact result */
    sql: string;
    /** the output: csv (with a header), json (one object per line), arrow (IPC stream) or parquet (zstd) (default "csv") */
    format?: "csv" | "json" | "arrow" | "parquet";
    /** the format of an input by its name, where the extension and content type do not say */
    formats?: Readonly<Record<string, "csv" | "json" | "arrow" | "parquet">>;
  };
  /** Digests of every input with each algorithm */
  "crypto.hash": {
    /** digests to compute */
    algorithms: ReadonlyArray<"sha256" | "sha512" | "sha3-256" | "blake3" | "xxhash64" | "argon2id">;
    /** argon2id parameters (salt as hex) */
    argon2?: {
      /** salt, hex (8 bytes or more) */
      salt: string;
      /** passes (1..16; default 3) */
      iterations?: number;
      /** memory, KiB (64..262144; default 65536) */
      memory_kib?: number;
      /** lanes (1..4; default 1) */
      parallelism?: number;
      /** bytes of output (16..64; default 32) */
      length?: number;
    };
  };
  /** HMAC of every input */
  "crypto.hmac": {
    /** the hash (default "sha256") */
    algorithm?: "sha256" | "sha512" | "sha3-256";
    /** the key, hex (a volunteer sees it) */
    key: string;
  };
  /** Ed25519 signatures of every input */
  "crypto.ed25519_sign": {
    /** the 32-byte seed, hex (a volunteer sees it) */
    private_key: string;
  };
  /** Checks Ed25519 signatures of every input */
  "crypto.ed25519_verify": {
    /** the 32-byte public key, hex */
    public_key: string;
    /** input name → signature, hex */
    signatures: Readonly<Record<string, string>>;
  };
  /** AES-GCM encryption of every input (WebCrypto) */
  "crypto.aes_gcm_encrypt": {
    /** a 128- or 256-bit key, hex (a volunteer sees it) */
    key: string;
    /** a 96-bit IV, hex; use each one once per key */
    iv: string;
    /** additional authenticated data, hex (default "") */
    aad?: string;
  };
  /** AES-GCM decryption of every input (WebCrypto); a wrong tag fails INVALID_INPUT */
  "crypto.aes_gcm_decrypt": {
    /** a 128- or 256-bit key, hex (a volunteer sees it) */
    key: string;
    /** the 96-bit IV, hex */
    iv: string;
    /** additional authenticated data, hex (default "") */
    aad?: string;
  };
  /** Re-encodes every input to a format and codec, optionally at another bitrate, rate or channel count */
  "audio.transcode": {
    /** the container: mp3, ogg, opus, wav, flac or m4a (AAC/ALAC) */
    format: "mp3" | "ogg" | "opus" | "wav" | "flac" | "m4a";
    /** the encoder (default: the format's first: mp3, vorbis, opus, pcm_s16le, flac, aac) */
    codec?: "mp3" | "vorbis" | "opus" | "aac" | "alac" | "flac" | "pcm_s16le" | "pcm_s24le" | "pcm_f32le";
    /** bitrate of a lossy codec, kbit/s (libvorbis refuses some for a rate and channel count: INVALID_PARAMS) (6..512) */
    bitrate_kbps?: number;
    /** output sample rate, Hz (default: the input’s, or the nearest the codec takes) (8000..192000) */
    sample_rate?: number;
    /** output channels, downmixed or upmixed (default: the input’s) (1..8) */
    channels?: number;
  };
  /** Converts every input to another sample rate (FFmpeg’s swresample), losslessly encoded */
  "audio.resample": {
    /** the new sample rate, Hz (8000..192000) */
    sample_rate: number;
    /** the container: wav or flac (default "wav") */
    format?: "wav" | "flac";
    /** the encoder (default: the format's first: mp3, vorbis, opus, pcm_s16le, flac, aac) */
    codec?: "mp3" | "vorbis" | "opus" | "aac" | "alac" | "flac" | "pcm_s16le" | "pcm_s24le" | "pcm_f32le";
  };
  /** EBU R128 loudness normalization (FFmpeg’s loudnorm): a measuring pass, then linear gain where the targets allow it */
  "audio.normalize": {
    /** integrated loudness target, LUFS (-70..-5; default -23) */
    integrated_lufs?: number;
    /** maximum true peak, dBTP (-9..0; default -1) */
    true_peak_dbtp?: number;
    /** loudness range target, LU (1..50; default 7) */
    lra?: number;
    /** apply one gain from the measuring pass when the targets allow it (else dynamic) (default true) */
    linear?: boolean;
    /** output sample rate, Hz (default: the input’s) (8000..192000) */
    sample_rate?: number;
    /** the container: wav or flac (default "wav") */
    format?: "wav" | "flac";
    /** the encoder (default: the format's first: mp3, vorbis, opus, pcm_s16le, flac, aac) */
    codec?: "mp3" | "vorbis" | "opus" | "aac" | "alac" | "flac" | "pcm_s16le" | "pcm_s24le" | "pcm_f32le";
  };
  /** Keeps `duration` seconds from `start` of every input, re-encoded (sample-accurate) */
  "audio.trim": {
    /** where the kept part starts, seconds (0..86400; default 0) */
    start?: number;
    /** how long the kept part is, seconds (default: to the end) (0.001..86400) */
    duration?: number;
    /** the container (default: the input’s, by its extension, else wav) */
    format?: "mp3" | "ogg" | "opus" | "wav" | "flac" | "m4a";
  };
  /** Re-encodes every input (H.264, VP8 or VP9; AAC or Opus audio), optionally scaled and at another frame rate */
  "video.transcode": {
    /** mp4, webm or mkv */
    container: "mp4" | "webm" | "mkv";
    /** h264 (libx264), vp8 or vp9 (libvpx); default: h264 for mp4 and mkv, vp9 for webm */
    codec?: "h264" | "vp8" | "vp9";
    /** constant quality (h264 0–51, default 23; vp8 4–63, default 10; vp9 0–63, default 32) (0..63) */
    crf?: number;
    /** target bitrate instead of crf, kbit/s (50..50000) */
    bitrate_kbps?: number;
    /** speed against size (x264 presets; for VP8/VP9 mapped onto cpu-used) (default "veryfast") */
    preset?: "ultrafast" | "superfast" | "veryfast" | "faster" | "fast" | "medium" | "slow";
    /** output width, even (default: the input’s; with only height given, keeps the aspect) (16..4096) */
    width?: number;
    /** output height, even (default: the input’s; with only width given, keeps the aspect) (16..4096) */
    height?: number;
    /** output frame rate (default: the input’s) (1..120) */
    fps?: number;
    /** keep the first audio stream (AAC, Opus in webm) (default true) */
    audio?: boolean;
    /** audio bitrate, kbit/s (32..320; default 128) */
    audio_bitrate_kbps?: number;
  };
  /** Keeps `duration` seconds from `start` of every input, re-encoded (frame-accurate) */
  "video.trim": {
    /** where the kept part starts, seconds (0..86400; default 0) */
    start?: number;
    /** how long the kept part is, seconds (default: to the end) (0.001..86400) */
    duration?: number;
    /** the container (default: the input’s, by its extension, else mp4) */
    container?: "mp4" | "webm" | "mkv";
  };
  /** Frames of every input as images: `fps` a second (or one every `every_seconds`) from `start` */
  "video.extract_frames": {
    /** frames a second (default 1) (0.01..60) */
    fps?: number;
    /** one frame every this many seconds, instead of fps (0.1..3600) */
    every_seconds?: number;
    /** where the first frame is, seconds (0..86400; default 0) */
    start?: number;
    /** at most this many frames per input (1..1000; default 100) */
    count?: number;
    /** png or jpeg (default "png") */
    format?: "png" | "jpeg";
    /** JPEG quantizer, 2 (best) to 31 (2..31; default 3) */
    jpeg_qscale?: number;
    /** frame width; the height keeps the aspect (default: the input’s) (16..4096) */
    width?: number;
  };
  /** Runs an ONNX model on a batch of input tensors and returns its output tensors */
  "ml.infer": {
    /** the model: flock:sha256:<hex> of an ONNX file uploaded with POST /v1/modules */
    model: string;
    /** where it runs: webgpu, wasm, or auto (WebGPU on a hardware GPU, or where the task requires WebGPU; else WASM) (default "auto") */
    execution?: "auto" | "webgpu" | "wasm";
    /** which outputs to return (default: all) */
    outputs?: ReadonlyArray<string>;
  };
  /** Embeddings: one output of the model, mean-pooled to [N, D], L2-normalized by default */
  "ml.embed": {
    /** the model: flock:sha256:<hex> of an ONNX file uploaded with POST /v1/modules */
    model: string;
    /** where it runs: webgpu, wasm, or auto (WebGPU on a hardware GPU, or where the task requires WebGPU; else WASM) (default "auto") */
    execution?: "auto" | "webgpu" | "wasm";
    /** the model output to use (default: the model's first) */
    output?: string;
    /** scale each embedding to unit length (default true) */
    normalize?: boolean;
  };
  /** Top-k classes per row of one output: labels from the model's metadata (`labels`) or params */
  "ml.classify": {
    /** the model: flock:sha256:<hex> of an ONNX file uploaded with POST /v1/modules */
    model: string;
    /** where it runs: webgpu, wasm, or auto (WebGPU on a hardware GPU, or where the task requires WebGPU; else WASM) (default "auto") */
    execution?: "auto" | "webgpu" | "wasm";
    /** the model output to use (default: the model's first) */
    output?: string;
    /** classes per row (1..100; default 5) */
    top_k?: number;
    /** turn logits into probabilities first (default true) */
    softmax?: boolean;
    /** class names by index (default: the model's `labels` metadata, a JSON array) */
    labels?: ReadonlyArray<string>;
  };

}

/** Every library op, `<library>.<method>`. */
export type LibraryOp = keyof LibraryParams;
