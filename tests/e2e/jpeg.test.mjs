// JPEG in the browser: where the browser's own decoder is proven Pillow-exact
// (www/jpeg-check.js decides once per worker), JPEGs go through it and must
// give Pillow's pixels bit for bit; forced through the Rust decoder
// (zune-jpeg) they stay within the native bound (tests/preprocess.rs: max
// 4/255). The expectations are the decode-only cases of
// tests/fixtures/preprocess (transformers + Pillow 13, by
// tools/make_preprocess_fixtures.py), read back through the exact PNG path.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPage, root, startServer } from './support.mjs';

let server;
before(async () => {
  server = await startServer();
});
after(() => server?.stop());

const manifest = JSON.parse(readFileSync(join(root, 'tests/fixtures/preprocess/manifest.json'), 'utf8'));
const CASES = manifest.cases.filter((c) => /\.jpe?g$/.test(c.image) && c.config.do_resize === false && c.config.do_center_crop === false);

test("JPEGs decode to Pillow's pixels: exactly through the browser, within 4/255 through zune-jpeg", { timeout: 300_000 }, async (t) => {
  assert.ok(CASES.length >= 8, `${CASES.length} decode-only JPEG cases`);
  const { page, problems } = await openPage(t, `${server.base}README.md`, { webgpu: false });
  const results = await page.evaluate(async (cases) => {
    const { readPixels } = await import('/www/webclip.js');
    const blob = async (path) => (await fetch(path)).blob();
    const out = [];
    for (const c of cases) {
      const want = await readPixels(await blob(`/tests/fixtures/preprocess/${c.expected}`));
      const jpeg = await blob(`/tests/fixtures/images/${c.image}`);
      const row = { image: c.image, size: [want.width, want.height] };
      for (const decoder of ['auto', 'webclip']) {
        const got = await readPixels(jpeg, { decoder });
        let max = 0;
        let differ = 0;
        for (let i = 0; i < want.rgb.length; i++) {
          const d = Math.abs(got.rgb[i] - want.rgb[i]);
          max = Math.max(max, d);
          differ += d > 0;
        }
        row[decoder] = { decoder: got.decoder, size: [got.width, got.height], max, differ };
      }
      out.push(row);
    }
    return out;
  }, CASES);
  for (const r of results) {
    t.diagnostic(`${r.image}: browser max ${r.auto.max}/255 (${r.auto.differ} values differ), zune-jpeg max ${r.webclip.max}/255 (${r.webclip.differ} differ)`);
    assert.deepEqual(r.auto.size, r.size, r.image);
    assert.equal(r.auto.decoder, 'browser', `${r.image}: Chromium passes the self-check, so JPEGs go through it`);
    assert.equal(r.auto.max, 0, `${r.image}: the browser's pixels equal Pillow's`);
    assert.equal(r.webclip.decoder, 'webclip');
    assert.deepEqual(r.webclip.size, r.size, r.image);
    assert.ok(r.webclip.max <= 4, `${r.image}: zune-jpeg within 4/255 of Pillow (got ${r.webclip.max})`);
  }
  assert.deepEqual(problems.filter((p) => !/Failed to load resource/.test(p)), []); // README.md's page asks for a favicon
});
