import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import * as bus from '../src/generated/bus.ts';
import * as compute from '../src/generated/compute.ts';
import { STRUCTS } from '../src/generated/model.ts';

const root = join(import.meta.dirname, '..');

test('src/generated is current with schema/*.capnp (run `npm run generate` when this fails)', () => {
  try {
    execFileSync('capnp', ['--version']);
  } catch {
    throw new Error('the capnp binary is missing: run `npm run setup` (installs Debian capnproto)');
  }
  const run = spawnSync(process.execPath, ['scripts/generate.mjs', '--check'], {
    cwd: root,
    encoding: 'utf8',
  });
  // capnp may print a kj filesystem warning on stderr; the verdict is the exit status.
  expect(run.stdout).toContain('src/generated is current');
  expect(run.status).toBe(0);
});

test('every descriptor field has a capnp-es accessor of the same name (the table and the classes agree)', () => {
  const classes = { ...compute, ...bus } as Record<string, unknown>;
  for (const [name, desc] of Object.entries(STRUCTS)) {
    const cls = classes[name] as { prototype: object } | undefined;
    expect(cls, name).toBeDefined();
    for (const field of desc.fields) {
      const accessor = Object.getOwnPropertyDescriptor(cls!.prototype, field.name);
      // Void union members have only a setter.
      expect(accessor?.get ?? accessor?.set, `${name}.${field.name}`).toBeTypeOf('function');
    }
  }
});
