// Photo search's JS API (issue 19) against the CLI: the browser indexes the
// committed folder tests/fixtures/search-photos/ through `SearchIndex` on each
// engine and must rank as `webclip index` + `webclip search` do natively; the
// CLI's index file opens in the browser (one format), an index made with other
// weights or tampered with is refused with a specific message, and nothing is
// fetched once the model is loaded. The CLI's own precision and duplicate
// recall are tests/search.rs'.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStatic } from './hub-server.mjs';
import { ENGINES, cli, openPage, root } from './support.mjs';

const MODEL = 'www/models/demo/model-q4.webclip';
const FOLDER = 'tests/fixtures/search-photos';
const expected = JSON.parse(readFileSync(join(root, `${FOLDER}.json`), 'utf8'));
const QUERIES = ['a red star', 'a blue square', 'a yellow heart'];

let server;
let cliIndex;
const cliResults = {};
before(async () => {
  server = await startStatic(root);
  const dir = mkdtempSync(join(tmpdir(), 'webclip-search-'));
  const file = join(dir, 'photos.webclip-index');
  execFileSync(cli(), ['index', '--model', join(root, MODEL), join(root, FOLDER), '-o', file], { stdio: 'pipe' });
  cliIndex = readFileSync(file);
  for (const q of QUERIES) {
    cliResults[q] = JSON.parse(execFileSync(cli(), ['search', '--json', '--index', file, q, '--top', '5'])).results;
  }
});
after(() => server?.close());

const sha256 = createHash('sha256').update(readFileSync(join(root, MODEL))).digest('hex');
// Scores of the same picture from two engines' embeddings, each rounded to int8: a step of
// int8 is max|x|/127 of a unit vector (about 3e-3 here); measured differences are below 1e-3.
const SCORE_TOLERANCE = 5e-3;

for (const engine of ENGINES) {
  test(`SearchIndex ranks as the CLI does (${engine.name})`, { timeout: 300_000 }, async (t) => {
    const { page } = await openPage(t, `${server.base}www/bench.html`, engine);
    const files = [...Object.keys(expected.pictures), ...expected.skipped];
    const got = await page.evaluate(
      async ({ model: url, folder, files, queries, engine, sha256, cliIndex }) => {
        const { ClipModel, SearchIndex } = await import('/www/webclip.js');
        const blobs = {};
        for (const path of files) blobs[path] = await (await fetch(`/${folder}/${path}`)).blob();
        const model = await ClipModel.load(url, { engine });
        window.loadedAt = performance.now();
        const index = await SearchIndex.create(model, { model: { name: url, sha256 }, root: 'search-photos' });
        const added = [];
        const failed = [];
        for (let i = 0; i < files.length; i += 8) {
          const batch = files.slice(i, i + 8).map((path) => ({ path, size: blobs[path].size, modified: 0, image: blobs[path] }));
          const r = await index.add(batch);
          added.push(...r.added);
          failed.push(...r.failed);
        }
        const results = {};
        for (const q of queries) results[q] = await index.search({ text: q, top: 5 });
        const like = await index.search({ like: 'stars/red-star.png', top: 3 });
        const both = await index.search({ text: 'a red star', image: blobs['circles/blue-circle.png'], top: 60 });
        const wordsOnly = await index.search({ text: 'a red star', top: 60 });
        const exampleOnly = await index.search({ image: blobs['circles/blue-circle.png'], top: 60 });
        const inFolder = await index.search({ text: 'a red star', folder: 'more', top: 60 });
        const groups = await index.duplicates();
        const bytes = await index.toBytes();
        const reopened = await SearchIndex.open(model, bytes, { name: 'mine', expectSha256: sha256 });
        const fromCli = await SearchIndex.open(model, new Uint8Array(cliIndex), { name: 'cli.webclip-index', expectSha256: sha256 });
        const cliResults = {};
        for (const q of queries) cliResults[q] = await fromCli.search({ text: q, top: 5 });
        const refusal = (p) => p.then(() => 'accepted', (e) => e.message);
        const otherWeights = await refusal(SearchIndex.open(model, bytes, { name: 'mine', expectSha256: '0'.repeat(64) }));
        const cut = await refusal(SearchIndex.open(model, bytes.slice(0, bytes.length - 7), { name: 'cut.webclip-index' }));
        // A listing with one picture touched, one gone and one new (tests/search.rs does it on disk).
        const listing = (await index.entries()).filter((e) => e.path !== 'stars/blue-star.png').map((e) => ({ ...e, tag: 1 }));
        listing[0] = { ...listing[0], modified: 5 };
        listing.push({ path: 'new.png', size: 1, modified: 1 });
        const changes = await index.changes(listing);
        const removed = await index.remove(['stars/red-star.png', 'nowhere.png']);
        return {
          added, failed, results, like, both, wordsOnly, exampleOnly, inFolder, groups, size: index.size, info: index.info, reopened: reopened.size,
          cliResults, otherWeights, cut, removed, changes, firstPath: listing[0].path, rankMs: results[queries[0]].timings.rankMs,
        };
      },
      { model: `/${MODEL}`, folder: FOLDER, files, queries: QUERIES, engine: engine.engine, sha256, cliIndex: [...cliIndex] },
    );
    const requestsAfterLoad = await page.evaluate(() => performance.getEntriesByType('resource').filter((r) => r.startTime > window.loadedAt).map((r) => r.name));
    assert.deepEqual(requestsAfterLoad, [], 'nothing is fetched once the model is loaded');

    assert.deepEqual(got.added.sort(), Object.keys(expected.pictures).sort());
    assert.deepEqual(got.failed.map((f) => f.path).sort(), expected.skipped);
    for (const f of got.failed) assert.match(f.reason, new RegExp(f.path.replace('.', '\\.')), 'a reason names its file');
    assert.equal(got.size, Object.keys(expected.pictures).length - 1, 'one removed');
    assert.equal(got.removed, 1);
    assert.deepEqual(got.changes.embed.map((f) => [f.path, f.tag]), [[got.firstPath, 1], ['new.png', undefined]]);
    assert.deepEqual([got.changes.kept, got.changes.dropped], [Object.keys(expected.pictures).length - 2, ['stars/blue-star.png']]);
    assert.equal(got.reopened, Object.keys(expected.pictures).length);
    assert.equal(got.info.duplicateThreshold, 0.95);

    for (const q of QUERIES) {
      const mine = got.results[q];
      const native = cliResults[q];
      assert.equal(mine[0].path, native[0].path, `${q}: first result as the CLI's`);
      assert.equal(expected.pictures[mine[0].path], q.slice(2), `${q}: a picture of it first`);
      for (const r of mine) {
        const n = native.find((x) => x.path === r.path);
        if (n) assert.ok(Math.abs(n.score - r.score) < SCORE_TOLERANCE, `${q}: ${r.path} ${r.score} vs the CLI's ${n.score}`);
      }
      // The CLI's own file, searched in the browser: its codes, this engine's query.
      assert.deepEqual(got.cliResults[q].map((r) => r.path).slice(0, 1), native.map((r) => r.path).slice(0, 1));
    }
    // "More like this": the picture itself and its planted exact copy first (cosine 1).
    assert.deepEqual(got.like.slice(0, 2).map((r) => r.path).sort(), ['copies/red-star-exact.png', 'stars/red-star.png']);
    assert.ok(got.like[0].score > 0.99);
    // Words and an example together count equally: the cosine with their sum ranks as the sum of
    // the two cosines (on this model "a red star" and a blue circle lead to the purple star).
    const sum = (path) => got.wordsOnly.find((r) => r.path === path).score + got.exampleOnly.find((r) => r.path === path).score;
    const bySum = got.both.map((r) => r.path).sort((a, b) => sum(b) - sum(a));
    assert.deepEqual(got.both.slice(0, 3).map((r) => r.path), bySum.slice(0, 3));
    assert.ok(got.inFolder.every((r) => r.path.startsWith('more/')) && got.inFolder.length === 8);
    const pairs = expected.pairs.filter(([a, b]) => got.groups.some((g) => g.includes(a) && g.includes(b)));
    assert.ok(pairs.length >= 0.8 * expected.pairs.length, JSON.stringify(got.groups));
    assert.match(got.otherWeights, /made with other weights .* cannot be compared/);
    assert.match(got.cut, /cut\.webclip-index: not a usable webclip index: tensor "scales" claims bytes/);
    t.diagnostic(`ranking ${got.size + 1} pictures: ${got.rankMs.toFixed(2)} ms`);
  });
}

// A crash takes the worker's indexes with it: the index says so, and its saved
// bytes open again on the fresh worker the model reloads on, ranking as before.
test('after the engine crashes, an index says so and opens again from its bytes', { timeout: 300_000 }, async (t) => {
  const engine = ENGINES.find((e) => e.runs === 'cpu');
  const { page } = await openPage(t, `${server.base}www/bench.html`, engine);
  const got = await page.evaluate(async ({ model: url, folder, sha256 }) => {
    const { ClipModel, SearchIndex, simulateCrash } = await import('/www/webclip.js');
    const model = await ClipModel.load(url);
    const index = await SearchIndex.create(model, { model: { name: url, sha256 } });
    const paths = ['stars/red-star.png', 'circles/blue-circle.png', 'squares/green-square.png'];
    const files = await Promise.all(paths.map(async (path) => {
      const image = await (await fetch(`/${folder}/${path}`)).blob();
      return { path, size: image.size, modified: 0, image };
    }));
    await index.add(files);
    const before = await index.search({ text: 'a red star', top: 3 });
    const bytes = await index.toBytes();
    const crash = await simulateCrash().then(() => 'no crash', (e) => e.message);
    const stale = await index.search({ text: 'a red star' }).then(() => 'answered', (e) => e.message);
    const reopened = await SearchIndex.open(model, bytes, { expectSha256: sha256 });
    const after = await reopened.search({ text: 'a red star', top: 3 });
    return { crash, stale, before: before.map((r) => r.path), after: after.map((r) => r.path), scores: [before[0].score, after[0].score] };
  }, { model: `/${MODEL}`, folder: FOLDER, sha256 });
  assert.match(got.crash, /the engine crashed/);
  assert.match(got.stale, /the engine restarted since this index was opened: open it again/);
  assert.deepEqual(got.after, got.before);
  assert.equal(got.before[0], 'stars/red-star.png');
  assert.ok(Math.abs(got.scores[0] - got.scores[1]) < 1e-6, `${got.scores}`);
});
