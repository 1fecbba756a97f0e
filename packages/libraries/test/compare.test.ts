// outputsAgree: how the coordinator's spot checks judge a volunteer's outputs against the Node
// reference, by each method's rule: bytes, decoded pixels (sharp), decoded samples (ffmpeg).
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { outputsAgree } from '../src/reference/index.ts';
import { generate } from './support/media-fixtures.ts';

const out = (name: string, bytes: Uint8Array | Buffer) => [{ name, bytes: new Uint8Array(bytes) }];

describe('outputsAgree', () => {
  it('exact methods: the same bytes under the same names, no more, no fewer', async () => {
    const a = new TextEncoder().encode('{"a.txt":{"sha256":"00"}}');
    const b = a.slice();
    b[5]! ^= 1;
    expect(await outputsAgree('crypto.hash', out('digests.json', a), out('digests.json', a.slice()))).toBe(
      true,
    );
    expect(await outputsAgree('crypto.hash', out('digests.json', b), out('digests.json', a))).toBe(false);
    expect(await outputsAgree('crypto.hash', out('other.json', a), out('digests.json', a))).toBe(false);
    expect(await outputsAgree('crypto.hash', [], out('digests.json', a))).toBe(false);
    expect(
      await outputsAgree('crypto.hash', [...out('digests.json', a), ...out('x', a)], out('digests.json', a)),
    ).toBe(false);
  });

  it('image methods: decoded pixels within the method’s tolerance, whatever the encoding', async () => {
    const base = sharp({
      create: { width: 40, height: 30, channels: 3, background: { r: 90, g: 120, b: 200 } },
    });
    const want = await base.clone().png().toBuffer();
    const recoded = await sharp(want).png({ compressionLevel: 0 }).toBuffer();
    const oneOff = await sharp(want).linear(1, 1).png().toBuffer();
    const farOff = await sharp(want).linear(1, 12).png().toBuffer();
    expect(Buffer.compare(recoded, want)).not.toBe(0);
    expect(await outputsAgree('image.invert', out('a.png', recoded), out('a.png', want))).toBe(true);
    expect(await outputsAgree('image.invert', out('a.png', oneOff), out('a.png', want))).toBe(true);
    expect(await outputsAgree('image.invert', out('a.png', farOff), out('a.png', want))).toBe(false);
    expect(
      await outputsAgree('image.invert', out('a.png', new Uint8Array([0x89, 0x50])), out('a.png', want)),
    ).toBe(false);
  });

  it('audio methods: decoded samples (ffmpeg, without blocking), whatever the container', async () => {
    const tone = (f: number, ext: string, codec: string) =>
      generate(`cmp-${f}.${ext}`, ['-f', 'lavfi', '-i', `sine=f=${f}:d=0.5:r=8000`, '-c:a', codec]);
    const wav = tone(440, 'wav', 'pcm_s16le');
    const flac = tone(440, 'flac', 'flac');
    const other = tone(660, 'wav', 'pcm_s16le');
    // audio.resample's rule is sample-exact: FLAC is lossless, so its samples are the WAV's.
    expect(await outputsAgree('audio.resample', out('t.wav', flac), out('t.wav', wav))).toBe(true);
    expect(await outputsAgree('audio.resample', out('t.wav', other), out('t.wav', wav))).toBe(false);
    expect(await outputsAgree('audio.resample', out('t.wav', new Uint8Array(8)), out('t.wav', wav))).toBe(
      false,
    );
  });
});
