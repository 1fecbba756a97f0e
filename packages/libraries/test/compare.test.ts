// outputsAgree: how the coordinator's spot checks judge a volunteer's outputs against the Node
// reference, by each method's rule: bytes, decoded pixels (sharp), decoded samples (ffmpeg).
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { nodeDataRuntime } from '../src/reference/data-wasm-node.ts';
import { outputsAgree, runReference } from '../src/reference/index.ts';
import { LibraryHost } from '../src/runtime/index.ts';
import { generate } from './support/media-fixtures.ts';
import { nodeContext } from './support/node-context.ts';

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

  it('lossy audio methods: the SNR against the reference, not single samples', async () => {
    const wav = (name: string, expr: string) =>
      generate(name, ['-f', 'lavfi', '-i', `aevalsrc=${expr}:s=8000:d=0.5`, '-c:a', 'pcm_f32le']);
    const want = wav('snr-ref.wav', '0.5*sin(2*PI*440*t)');
    // Noise at −26 dB of the signal (SNR about 20 dB): a lossy codec's other rounding; agrees.
    const close = wav('snr-close.wav', '0.5*sin(2*PI*440*t)+0.035*sin(2*PI*1234*t)');
    const half = wav('snr-half.wav', '0.25*sin(2*PI*440*t)');
    const other = wav('snr-other.wav', '0.5*sin(2*PI*660*t)');
    expect(await outputsAgree('audio.transcode', out('t.wav', close), out('t.wav', want))).toBe(true);
    expect(await outputsAgree('audio.transcode', out('t.wav', half), out('t.wav', want))).toBe(false);
    expect(await outputsAgree('audio.transcode', out('t.wav', other), out('t.wav', want))).toBe(false);
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

  it('data.query: Arrow and Parquet by decoded columns and values (the tab against native DuckDB), CSV by bytes', async () => {
    const host = new LibraryHost({ data: async () => nodeDataRuntime() });
    const rows = [
      { name: 'n.csv', contentType: 'text/csv', bytes: new TextEncoder().encode('k,v\n1,0.5\n2,\n3,x\n') },
    ];
    const run = async (sql: string, format: string) => {
      const params = { sql, format };
      const tab = await host.run('data.query', params, rows, nodeContext('data'));
      return { tab: tab.outputs, reference: (await runReference('data.query', params, rows)).outputs };
    };
    const SQL = "SELECT k, v, k * 1.5 AS f, DATE '2026-12-07' + k::INTEGER AS d FROM n ORDER BY k";
    for (const format of ['arrow', 'parquet']) {
      const right = await run(SQL, format);
      expect(Buffer.compare(right.tab[0]!.bytes, right.reference[0]!.bytes)).not.toBe(0);
      expect(await outputsAgree('data.query', right.tab, right.reference)).toBe(true);
      const oneValue = await run(SQL.replace('k * 1.5', 'CASE WHEN k = 3 THEN 4.6 ELSE k * 1.5 END'), format);
      expect(await outputsAgree('data.query', oneValue.tab, right.reference)).toBe(false);
      const oneType = await run(SQL.replace('k * 1.5', '(k * 1.5)::FLOAT'), format);
      expect(await outputsAgree('data.query', oneType.tab, right.reference)).toBe(false);
      const oneName = await run(SQL.replace('AS f', 'AS g'), format);
      expect(await outputsAgree('data.query', oneName.tab, right.reference)).toBe(false);
      const cut = [{ ...right.tab[0]!, bytes: right.tab[0]!.bytes.subarray(0, 40) }];
      expect(await outputsAgree('data.query', cut, right.reference)).toBe(false);
    }
    // CSV stays byte for byte: the same values spelled otherwise do not agree.
    const csv = await run(SQL, 'csv');
    expect(await outputsAgree('data.query', csv.tab, csv.reference)).toBe(true);
    const respelled = new TextDecoder().decode(csv.tab[0]!.bytes).replace('1.5,', '1.50,');
    expect(
      await outputsAgree('data.query', out('result.csv', new TextEncoder().encode(respelled)), csv.reference),
    ).toBe(false);
  });
});
