// A WASI task's mounts and collect paths are checked at submit by the check the tab runs
// (@flock/protocol checkWasiParams): a bad one is 400 INVALID_PARAMS naming the field, not a task
// that fails on a volunteer. Other module kinds and the kernel ABI keep their params unread.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { envelope, startTest, type TestCoordinator } from './helpers.ts';

let c: TestCoordinator;
beforeAll(async () => {
  c = await startTest();
});
afterAll(async () => {
  await c.stop();
});

async function errorOf(res: Response): Promise<{ status: number; code: string; field?: string }> {
  const body = (await res.json()) as { error: { code: string; field?: string } };
  const out: { status: number; code: string; field?: string } = { status: res.status, code: body.error.code };
  if (body.error.field !== undefined) out.field = body.error.field;
  return out;
}

/** A WASI program (the smallest module) with the input `x` and the archive `project.tar`. */
function wasi(taskId: string, params: Record<string, unknown>, module: Record<string, unknown> = {}) {
  return envelope(taskId, {
    op: 'main',
    module: { kind: 'wasm', inline: 'AGFzbQEAAAA=', permissions: { wasi_fs: true }, ...module },
    inputs: [
      { name: 'x', inline_bytes: 'AQID' },
      { name: 'project.tar', content_type: 'application/x-tar', inline_bytes: 'AAAA' },
    ],
    params,
  });
}

const post = (json: Record<string, unknown>) => c.api('/v1/tasks', { method: 'POST', json });

describe('POST /v1/tasks: WASI mounts and collect', () => {
  test.each([
    [{ mounts: { '/data/../x': 'project.tar' } }, 'params.mounts["/data/../x"]'],
    [{ mounts: { data: 'project.tar' } }, 'params.mounts["data"]'],
    [{ mounts: { '/data/': 'project.tar' } }, 'params.mounts["/data/"]'],
    [{ mounts: { '/out/x': 'project.tar' } }, 'params.mounts["/out/x"]'],
    [{ mounts: { '/': 'missing.tar' } }, 'params.mounts["/"]'],
    [{ mounts: { '/': 3 } }, 'params.mounts["/"]'],
    [{ mounts: ['/'] }, 'params.mounts'],
    [{ collect: '/out' }, 'params.collect'],
    [{ collect: ['relative'] }, 'params.collect[0]'],
    [{ collect: ['/out', 7] }, 'params.collect[1]'],
    [{ collect: ['/elsewhere'] }, 'params.collect[0]'],
    [{ mount_max_bytes: -1 }, 'params.mount_max_bytes'],
    [{ mount_max_bytes: 1.5 }, 'params.mount_max_bytes'],
    [{ mount_max_bytes: 64 * 1024 * 1024 + 1 }, 'params.mount_max_bytes'],
    [{ mount_max_entries: '10' }, 'params.mount_max_entries'],
  ])('refuses %j: 400 INVALID_PARAMS, field %s', async (params, field) => {
    expect(await errorOf(await post(wasi('wasi-bad', params)))).toEqual({
      status: 400,
      code: 'INVALID_PARAMS',
      field,
    });
  });

  test('mounts and collect need permissions.wasi_fs', async () => {
    const noFs = { permissions: {} };
    expect(await errorOf(await post(wasi('wasi-nofs', { mounts: { '/': 'project.tar' } }, noFs)))).toEqual({
      status: 400,
      code: 'INVALID_PARAMS',
      field: 'params.mounts',
    });
    expect(await errorOf(await post(wasi('wasi-nofs', { collect: ['/out'] }, noFs)))).toEqual({
      status: 400,
      code: 'INVALID_PARAMS',
      field: 'params.collect',
    });
  });

  test('in a campaign the field names the task', async () => {
    const res = await c.api('/v1/campaigns', {
      method: 'POST',
      json: {
        campaign_id: 'wasi-camp',
        tasks: [wasi('wasi-c-0', {}), wasi('wasi-c-1', { mounts: { '/a/./b': 'project.tar' } })],
      },
    });
    expect(await errorOf(res)).toEqual({
      status: 400,
      code: 'INVALID_PARAMS',
      field: 'tasks[1].params.mounts["/a/./b"]',
    });
  });

  test('valid mounts are accepted as submitted; kernel-ABI and built-in tasks keep their params unread', async () => {
    const accepted = [
      wasi('wasi-ok', {
        mounts: { '/': 'project.tar', '/data/deep': 'x' },
        collect: ['/', '/out'],
        mount_max_bytes: 0,
        mount_max_entries: 10_000,
      }),
      wasi('wasi-kernel', { mounts: 'not an object' }, { abi: 'kernel' }),
      envelope('wasi-builtin', { params: { mounts: { relative: 'nothing' } } }),
    ];
    for (const json of accepted) {
      const res = await post(json);
      expect(res.status).toBe(201);
      // Cancelled, so no later test sees a queued task of these.
      expect((await c.api(`/v1/tasks/${json['task_id']}`, { method: 'DELETE' })).status).toBe(200);
    }
  });
});
