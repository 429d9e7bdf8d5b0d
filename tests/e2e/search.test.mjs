// The photo search page (www/search.html, issue 19), on the CPU engine with
// the demo model: a folder picked through its webkitdirectory input is indexed
// in batches (paused, held, cancelled, then picked again: only the rest is
// embedded), files that are not pictures or do not decode are listed with why,
// words rank the right picture first, a folder filter narrows the search,
// "more like this" and a dropped picture search by example, near-duplicates
// group exact copies, the index and thumbnails come back from the origin
// private file system on reload with nothing embedded again, an index file
// exports and imports (a file that is no index, or one made with other
// weights, is refused in plain words, the page unchanged), the model is
// downloaded once and nothing is requested after it loads, and the page fits
// 320 and 360 px.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStatic } from './hub-server.mjs';
import { launchChromium, root } from './support.mjs';

const folder = join(root, 'tests/fixtures/search-photos');
// What the folder holds (tools/make_search_folder.py): { pictures: { path: 'colour shape' }, pairs, skipped }.
const expected = JSON.parse(readFileSync(join(root, 'tests/fixtures/search-photos.json'), 'utf8'));
const pictures = Object.keys(expected.pictures);
const skipped = [...expected.skipped].sort();
// A label only one picture has (no copy of it elsewhere): it must come first.
const counts = Object.values(expected.pictures).reduce((m, l) => m.set(l, (m.get(l) ?? 0) + 1), new Map());
const [queryPath, queryLabel] = Object.entries(expected.pictures).find(([, l]) => counts.get(l) === 1);

let server;
/** The index file the first test exports, which the last opens with another model. */
let exportedIndex;
before(async () => {
  server = await startStatic(root);
});
after(() => server?.close());

const state = (page) => page.evaluate(() => window.searchPage.state());

/** Whether the page scrolls sideways at `width` px, with what sticks out. */
async function assertFits(page, width) {
  await page.setViewportSize({ width, height: 800 });
  const { excess, culprits } = await page.evaluate(() => {
    const w = window.innerWidth;
    const out = [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > w + 0.5).map((e) => `${e.localName}${e.id ? `#${e.id}` : ''}${e.className ? `.${e.className}` : ''}`);
    return { excess: document.documentElement.scrollWidth - w, culprits: out.slice(0, 5) };
  });
  assert.ok(excess <= 0, `at ${width} px the page scrolls sideways by ${excess} px (${culprits.join(', ')})`);
}

/** Pauses the indexing that just started and checks it makes no progress while paused. */
async function pauseAndHold(page) {
  await page.click('[data-testid=pause]');
  await page.waitForFunction(() => window.searchPage.state().progress?.paused && / · paused$/.test(document.querySelector('#index-text').textContent));
  const held = (await state(page)).progress;
  assert.ok(held.done < held.total, JSON.stringify(held));
  await page.waitForTimeout(700);
  assert.deepEqual((await state(page)).progress, held, 'no batch runs while paused');
  return held;
}

async function searchFor(page, text, folderFilter = '') {
  await page.fill('[data-testid=query]', text);
  await page.selectOption('[data-testid=folder-filter]', folderFilter);
  await page.click('[data-testid=search]');
  await page.waitForFunction(() => ['done', 'none', 'error'].includes(document.querySelector('#results').dataset.state));
  assert.equal(await page.getAttribute('#results', 'data-state'), 'done', await page.textContent('#error'));
  return page.$$eval('#results [data-testid=result]', (cards) => cards.map((c) => ({ path: c.dataset.path, score: Number(c.dataset.score), shown: c.querySelector('.score').textContent })));
}

test('the photo search page indexes a folder, searches it, and reopens it from storage', { timeout: 120_000 }, async (t) => {
  const browser = await launchChromium({ webgpu: false }); // the CPU engine: what `auto` runs here
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));

  await page.goto(`${server.base}www/search.html`);
  await page.evaluate(() => window.searchPage.ready);
  let s = await state(page);
  assert.equal(s.model, 'ready', JSON.stringify(s.error));
  assert.match(s.sha256, /^[0-9a-f]{64}$/);
  const modelRequests = server.requests.filter((r) => r.path.endsWith('.webclip'));
  assert.equal(modelRequests.length, 1, 'the model is downloaded once');
  assert.equal(modelRequests[0].range, undefined, 'whole, by fetch(), then read from memory');
  assert.equal(s.size, 0, 'nothing stored yet');
  const loaded = server.requests.length;

  // The folder, through the webkitdirectory input. Paused at once (the batch running ends first), it holds; cancelled, it keeps what it made.
  const started = Date.now();
  await page.setInputFiles('[data-testid=folder-input]', folder);
  await pauseAndHold(page);
  await page.click('[data-testid=cancel]');
  await page.waitForFunction(() => document.querySelector('#index-status').dataset.state === 'cancelled');
  await page.evaluate(() => window.searchPage.idle());
  s = await state(page);
  const first = s.size;
  assert.ok(first > 0 && first < pictures.length, `cancelled with ${first} indexed`);
  assert.equal(s.embedded, first);
  assert.match(await page.textContent('#index-status'), /^Cancelled after \d+ of \d+/);
  // Picked again: only the rest is embedded (paused and resumed on the way).
  await page.setInputFiles('[data-testid=folder-input]', folder);
  await pauseAndHold(page);
  await page.click('[data-testid=resume]');
  await page.waitForFunction(() => ['done', 'cancelled'].includes(document.querySelector('#index-status').dataset.state), null, { timeout: 90_000 });
  await page.evaluate(() => window.searchPage.idle());
  s = await state(page);
  t.diagnostic(`indexed ${s.size} pictures in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  assert.equal(s.root, 'search-photos');
  assert.equal(s.size, pictures.length);
  assert.equal(s.embedded, pictures.length, 'each picture embedded once');
  assert.equal(s.error, undefined);
  assert.match(await page.textContent('#index-status'), new RegExp(`^${pictures.length} pictures from search-photos indexed; ${pictures.length - first} new or changed; ${first} unchanged`));
  // Skipped files, each with a reason.
  assert.deepEqual(s.skipped.map((f) => f.path).sort(), skipped);
  for (const { path, reason } of s.skipped) assert.ok(reason.length > 10, `${path}: ${reason}`);
  assert.match(s.skipped.find((f) => f.path === 'notes.txt').reason, /not a picture/);
  const listed = await page.$$eval('#skipped-list li', (items) => items.map((i) => i.textContent));
  assert.equal(listed.length, skipped.length);
  assert.ok(listed.every((line) => /: ./.test(line)), listed.join('\n'));

  // Words: the only picture of that label comes first; scores shown to 3 decimals.
  let results = await searchFor(page, `a ${queryLabel}`);
  assert.equal(results[0].path, queryPath, JSON.stringify(results.slice(0, 3)));
  assert.match(results[0].shown, /^-?\d\.\d{3}$/);
  assert.ok(results.every((r, i) => i === 0 || r.score <= results[i - 1].score), 'best first');
  // Thumbnails drawn for the results.
  await page.waitForFunction(() => document.querySelector('#results .thumb img')?.naturalWidth > 0);
  // Filter by folder: only that subfolder's pictures.
  assert.ok((await page.$$eval('#folder-filter option', (o) => o.map((x) => x.value))).includes('more/hearts'));
  results = await searchFor(page, 'a red heart', 'more');
  assert.ok(results.length > 0 && results.every((r) => r.path.startsWith('more/')), JSON.stringify(results));
  assert.equal(results[0].path, 'more/hearts/red-heart.png');
  // More like this: the picture itself first.
  await page.fill('[data-testid=query]', '');
  await page.selectOption('[data-testid=folder-filter]', '');
  await page.click(`#results [data-path="more/hearts/red-heart.png"] [data-testid=more-like]`);
  await page.waitForFunction(() => window.searchPage.state().results[0]?.path === 'more/hearts/red-heart.png');
  await page.click('[data-testid=example-clear]');
  // A picture dropped on the search, with words: the same picture first.
  const heart = readFileSync(join(folder, 'more/hearts/red-heart.png')).toString('base64');
  await page.fill('[data-testid=query]', 'a red heart');
  await page.evaluate((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], 'dropped-heart.png', { type: 'image/png' }));
    document.querySelector('#search-form').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, heart);
  await page.waitForFunction(() => /^\d+ best match(es)? for “a red heart” and pictures like dropped-heart\.png/.test(document.querySelector('#search-status').textContent));
  assert.equal((await state(page)).results[0].path, 'more/hearts/red-heart.png');
  assert.equal(await page.isVisible('[data-testid=example]'), true);
  await page.click('[data-testid=example-clear]');
  // Clicking a result opens the picture itself (its File is at hand in this visit).
  await page.click('#results .thumb-button');
  assert.equal(await page.getAttribute('#viewer', 'data-source'), 'file');
  await page.click('[data-testid=viewer-close]');

  // Near-duplicates at the default threshold: every exact copy is grouped with its original.
  await page.click('[data-testid=dup-find]');
  await page.waitForFunction(() => window.searchPage.state().duplicates.length > 0);
  const groups = (await state(page)).duplicates;
  for (const [a, b] of expected.pairs.filter(([, , how]) => how === 'exact')) {
    assert.ok(groups.some((g) => g.includes(a) && g.includes(b)), `${a} and ${b} not grouped: ${JSON.stringify(groups)}`);
  }
  assert.equal(await page.locator('[data-testid=dup-group]').count(), groups.length);

  for (const width of [320, 360]) await assertFits(page, width);
  await page.setViewportSize({ width: 1100, height: 900 });

  // Export, then a bad import: refused in plain words, the open index kept.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export]')]);
  assert.equal(download.suggestedFilename(), 'search-photos.webclip-index');
  const exported = join(mkdtempSync(join(tmpdir(), 'webclip-search-')), 'search-photos.webclip-index');
  await download.saveAs(exported);
  exportedIndex = exported;
  await page.setInputFiles('[data-testid=import]', join(folder, 'notes.txt'));
  await page.waitForSelector('#error:not([hidden])');
  s = await state(page);
  assert.equal(s.error.kind, 'index');
  assert.match(s.error.text, /notes\.txt” could not be opened: it is not a webclip index/);
  assert.equal(s.size, pictures.length, 'the previous index is kept');
  assert.equal((await searchFor(page, `a ${queryLabel}`))[0].path, queryPath);

  // Nothing was requested after the model was loaded.
  assert.deepEqual(server.requests.slice(loaded).map((r) => r.path), []);

  // A second visit: the index opens from storage at once, nothing embedded, thumbnails from storage.
  await page.reload();
  await page.evaluate(() => window.searchPage.ready);
  await page.evaluate(() => window.searchPage.idle());
  const reloaded = server.requests.length;
  s = await state(page);
  assert.equal(s.root, 'search-photos');
  assert.equal(s.size, pictures.length);
  assert.equal(s.embedded, 0, 'nothing embedded again');
  assert.deepEqual(s.stored.map((x) => [x.root, x.size]), [['search-photos', pictures.length]]);
  assert.equal((await searchFor(page, `a ${queryLabel}`))[0].path, queryPath);
  await page.waitForFunction(() => document.querySelector('#results .thumb img')?.naturalWidth > 0);
  await page.click('#results .thumb-button');
  assert.equal(await page.getAttribute('#viewer', 'data-source'), 'thumbnail');
  await page.click('[data-testid=viewer-close]');
  // The exported file opens as the index.
  await page.setInputFiles('[data-testid=import]', exported);
  await page.waitForFunction(() => document.querySelector('#index-status').dataset.state === 'imported');
  s = await state(page);
  assert.equal(s.size, pictures.length);
  assert.equal(s.error, undefined);
  // Picking the folder again embeds nothing: every picture is unchanged.
  await page.setInputFiles('[data-testid=folder-input]', folder);
  await page.waitForFunction(() => document.querySelector('#index-status').dataset.state === 'done');
  s = await state(page);
  assert.equal(s.embedded, 0);
  assert.match(await page.textContent('#index-status'), new RegExp(`${pictures.length} unchanged`));
  assert.deepEqual(s.skipped.map((f) => f.path).sort(), skipped);
  assert.deepEqual(server.requests.slice(reloaded).map((r) => r.path), []);
  assert.deepEqual(problems, []);

  // The engine crashes (a trap; its indexes go with the worker): the page opens the copy kept
  // in this browser again on the fresh worker and answers as before.
  await page.evaluate(async () => (await import('/www/webclip.js')).simulateCrash().catch(() => {}));
  assert.equal((await searchFor(page, `a ${queryLabel}`))[0].path, queryPath);
  assert.equal((await state(page)).error, undefined);
});

test('the photo search page says in plain words when its model cannot be loaded', { timeout: 60_000 }, async (t) => {
  const browser = await launchChromium({ webgpu: false });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 360, height: 800 } });
  await page.goto(`${server.base}www/search.html?model=models/demo/no-such-model.webclip&engine=cpu`);
  await page.evaluate(() => window.searchPage.ready);
  const s = await state(page);
  assert.equal(s.model, 'error');
  assert.equal(s.error.kind, 'missing');
  assert.match(s.error.text, /^The model was not found where this page looks for it\..*no-such-model\.webclip: HTTP 404/);
  assert.equal(await page.isDisabled('[data-testid=folder-input]'), true);
  await assertFits(page, 320);
});

test("an index made with another model's weights is refused in plain words", { timeout: 60_000 }, async (t) => {
  assert.ok(exportedIndex, 'the first test exported an index');
  const browser = await launchChromium({ webgpu: false });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  // A model directory: its four files fetched once, the hash taken of its weights.
  await page.goto(`${server.base}www/search.html?model=../tests/fixtures/tiny-clip/&engine=cpu`);
  await page.evaluate(() => window.searchPage.ready);
  let s = await state(page);
  assert.equal(s.model, 'ready', JSON.stringify(s.error));
  const own = server.requests.filter((r) => r.path.startsWith('/tests/fixtures/tiny-clip/')).map((r) => r.path).sort();
  assert.deepEqual(own, ['config.json', 'model.safetensors', 'preprocessor_config.json', 'tokenizer.json'].map((f) => `/tests/fixtures/tiny-clip/${f}`));
  await page.setInputFiles('[data-testid=import]', exportedIndex);
  await page.waitForSelector('#error:not([hidden])');
  s = await state(page);
  assert.equal(s.error.kind, 'index-model');
  assert.match(s.error.text, /^“search-photos\.webclip-index” was made with another model than the one this page uses/);
  assert.match(s.error.text, /Detailsindex search-photos\.webclip-index: .*(another model|other weights)/, 'the detail says why');
  assert.equal(s.size, 0);
});
