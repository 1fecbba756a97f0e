// audio.* and video.*: FFmpeg's WASM core in the tab, Debian's ffmpeg as the reference (see
// ./audio.ts, ./video.ts and ../runtime/media-args.ts).
import type { MethodDefinition } from '../method.ts';
import { AUDIO_METHODS } from './audio.ts';
import { VIDEO_METHODS } from './video.ts';

export const MEDIA_METHODS: readonly MethodDefinition[] = [...AUDIO_METHODS, ...VIDEO_METHODS];
