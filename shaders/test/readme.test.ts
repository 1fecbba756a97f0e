// README.md's op reference is the manifests rendered; UPDATE_README=1 rewrites it.
import { readFileSync, writeFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { renderOpsReference } from './support/ops-doc.ts';

const README = new URL('../README.md', import.meta.url);
const BEGIN = '<!-- ops:begin (generated from src/ops by test/readme.test.ts) -->\n';
const END = '\n<!-- ops:end -->';

it('README lists every op as its manifest states it', () => {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  const rendered = renderOpsReference();
  if (process.env.UPDATE_README === '1') {
    writeFileSync(README, text.slice(0, start + BEGIN.length) + rendered + text.slice(end));
    return;
  }
  expect(text.slice(start + BEGIN.length, end)).toBe(rendered);
});
