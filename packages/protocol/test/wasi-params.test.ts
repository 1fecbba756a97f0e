// The file-system params of a WASI task, as the coordinator (at submit) and the tab check them.
import { describe, expect, it } from 'vitest';
import { checkWasiParams, isGuestPath, ProtocolError, WASI_MOUNT_LIMITS } from '../src/index.ts';

describe('checkWasiParams', () => {
  it('defaults: no mounts, collect /out, the full limits', () => {
    expect(checkWasiParams(undefined, [], false)).toEqual({
      mounts: [],
      collect: ['/out'],
      maxBytes: 64 * 1024 * 1024,
      maxEntries: 10_000,
    });
    expect(WASI_MOUNT_LIMITS).toEqual({ maxBytes: 67_108_864, maxEntries: 10_000 });
  });

  it('names each mount by its input index, keeps collect, lowers the limits', () => {
    const params = { mounts: { '/': 'b.tar', '/data/x': 'a' }, collect: ['/data'], mount_max_entries: 0 };
    expect(checkWasiParams(params, ['a', 'b.tar'], true)).toEqual({
      mounts: [
        { path: '/', input: 1 },
        { path: '/data/x', input: 0 },
      ],
      collect: ['/data'],
      maxBytes: 64 << 20,
      maxEntries: 0,
    });
  });

  it('refuses with INVALID_PARAMS and the field', () => {
    const refusal = (params: Record<string, unknown>) => {
      try {
        checkWasiParams(params as never, ['a'], true);
      } catch (error) {
        if (error instanceof ProtocolError) return [error.code, error.field, error.message];
      }
      return 'accepted';
    };
    expect(refusal({ mounts: { '/x/..': 'a' } })).toEqual([
      'INVALID_PARAMS',
      'params.mounts["/x/.."]',
      'params.mounts["/x/.."] must be an absolute path without "." or ".." components',
    ]);
    expect(refusal({ mounts: { '/in': 'a' } })).toEqual([
      'INVALID_PARAMS',
      'params.mounts["/in"]',
      'params.mounts["/in"] may not be /in, /out or under them',
    ]);
    expect(refusal({ collect: ['/nowhere'] })).toEqual([
      'INVALID_PARAMS',
      'params.collect[0]',
      'params.collect[0] is under no mount and not /out',
    ]);
  });

  it('isGuestPath: absolute, no empty, "." or ".." components, no trailing slash', () => {
    const paths = [
      '/',
      '/a',
      '/a/b.c',
      '/..a',
      'a',
      '',
      '//',
      '/a/',
      '/a//b',
      '/.',
      '/a/..',
      '/a/./b',
      '/a\0',
    ];
    expect(paths.filter(isGuestPath)).toEqual(['/', '/a', '/a/b.c', '/..a']);
  });
});
