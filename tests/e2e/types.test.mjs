// The published TypeScript types (www/webclip.d.ts, www/widget.d.ts) compile
// against an author's example (types/example.ts) with `tsc --noEmit --strict`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

test('the TypeScript types check against an example', () => {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const run = spawnSync(`${here}node_modules/.bin/tsc`, ['-p', `${here}types`], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});
