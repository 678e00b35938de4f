import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ErrorCodes } from '../src/errors.ts';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
const documented = [...doc.matchAll(/^### (SKEIN_ERR_[A-Z_]+)\s*$/gm)].map((m) => m[1]!);
const defined = Object.keys(ErrorCodes);

test('every error code in errors.ts is documented in docs/errors.md', () => {
  assert.deepEqual(defined.filter((c) => !documented.includes(c)), []);
});

test('every code documented in docs/errors.md exists in errors.ts', () => {
  assert.deepEqual(documented.filter((c) => !defined.includes(c)), []);
});

test('no code is documented twice', () => {
  assert.equal(new Set(documented).size, documented.length);
});

test('every code is used somewhere in the source', async () => {
  const { readdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  const root = new URL('../../', import.meta.url).pathname;
  let source = '';
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === 'test') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.ts')) {
        // errors.ts lists every code; only its uses outside that list count.
        const text = readFileSync(p, 'utf8');
        source += p.endsWith('/core/src/errors.ts') ? text.replace(/export const ErrorCodes = \{[\s\S]*?\n\} as const;/, '') : text;
      }
    }
  };
  walk(root);
  assert.deepEqual(defined.filter((c) => !source.includes(`'${c}'`)), []);
});
