// Google's SigLIP on the demo page, through the JS API and in <clip-classifier>,
// on the tiny SigLIP fixture (tests/fixtures/tiny-siglip/, random weights, with
// transformers' outputs in expected/): its scores are each label's own sigmoid
// probability, shown as they are (never renormalised to add up to 100%) with a
// sentence saying so; it has no heatmaps, so the page's "Where?" view and the
// widget's heatmap option say so instead of failing after a click. Each test
// starts on the tiny CLIP fixture and switches to SigLIP, checking that what the
// reader typed (and the widget's picture) is kept. On WebGPU and, in a browser
// without WebGPU, on the CPU engine.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStatic } from './hub-server.mjs';
import { ENGINES, classify, openPage, readNpy, root, waitForModel } from './support.mjs';

const SIGLIP = join(root, 'tests/fixtures/tiny-siglip');
const NOTE = 'SigLIP scores each label on its own: the percentages need not add up to 100%.';
const NO_MAPS = 'This model cannot show where a label is: heatmaps need a CLIP model.';
// The bound of the brief: f32 towers against transformers' float64 sigmoid.
const MAX_SCORE_ERROR = 2e-5;

let server;
before(async () => {
  assert.ok(existsSync(join(SIGLIP, 'expected/probs.npy')), `${SIGLIP}/expected/probs.npy is missing: the SigLIP fixture has not been generated`);
  server = await startStatic(root);
});
after(() => server?.close());

/**
 * The fixture's first picture, its first three texts and transformers' scores
 * of them (`probs.npy` row 0: sigmoid probabilities, one per text, as they are).
 */
function expectations() {
  const cases = JSON.parse(readFileSync(join(SIGLIP, 'expected/cases.json'), 'utf8'));
  const labels = cases.texts.slice(0, 3);
  // The page and the widget read labels trimmed, one per line: these must survive that unchanged.
  for (const l of labels) assert.ok(l === l.trim() && l && !/[\n;]/.test(l), `texts[0..3] must be plain labels: ${JSON.stringify(l)}`);
  const probs = readNpy(join(SIGLIP, 'expected/probs.npy'));
  assert.equal(probs.shape[0], cases.images.length);
  const expected = new Map(labels.map((label, i) => [label, probs.data[i]]));
  return { image: cases.images[0], labels, expected };
}

/** Each score within MAX_SCORE_ERROR of transformers'; the worst difference. */
function assertScores(what, scores, expected) {
  assert.deepEqual(scores.map((s) => s.label).sort(), [...expected.keys()].sort(), what);
  let worst = 0;
  for (const { label, score } of scores) {
    const err = Math.abs(score - expected.get(label));
    worst = Math.max(worst, err);
    assert.ok(err <= MAX_SCORE_ERROR, `${what}, ${label}: ${score}, transformers ${expected.get(label)}`);
  }
  return worst;
}

for (const engine of ENGINES) {
  test(`the page shows SigLIP's scores as each label's own probability and no Where? view (${engine.name})`, { timeout: 300_000 }, async (t) => {
    const { image, labels, expected } = expectations();
    const { page, problems } = await openPage(t, `${server.base}?model=tests/fixtures/tiny-clip/${engine.query}`, engine);
    await waitForModel(page);

    // CLIP first: shares, no note, the Where? view offered.
    await classify(page, join(root, 'tests/fixtures/images', image), labels, '');
    assert.equal(await page.getAttribute('#results', 'data-scoring'), 'softmax');
    assert.equal(await page.isVisible('#scoring-note'), false);
    assert.equal(await page.isVisible('#where-show'), true);
    assert.equal(await page.isVisible('#where-unavailable'), false);

    // Then SigLIP, typed in the model box: the picture is classified again with the labels as typed.
    await page.$eval('#results', (e) => (e.dataset.state = 'stale'));
    await page.fill('#model-url', 'tests/fixtures/tiny-siglip/');
    // The click marks the status as loading at once; a failed load leaves the CLIP model ready.
    await page.click('#model-load');
    await page.waitForSelector('#model-status:not([data-state="loading"])', { timeout: 300_000 });
    assert.match(await page.textContent('#model-status'), /^Loaded tests\/fixtures\/tiny-siglip\//, await page.textContent('#error'));
    await page.waitForSelector('#results[data-state="done"][data-scoring="sigmoid"], #results[data-state="error"]', { timeout: 300_000 });
    assert.equal(await page.getAttribute('#results', 'data-state'), 'done', await page.textContent('#error'));
    assert.equal(await page.inputValue('#labels'), labels.join('\n'), 'the labels are kept as typed');
    assert.equal(await page.inputValue('#template'), '', 'the template is kept as typed');

    // Each bar is its label's own probability, as transformers computes it, and filled to it.
    const bars = await page.$$eval('#results .bar', (bars) =>
      bars.map((b) => ({ label: b.dataset.label, score: Number(b.dataset.score), cosine: b.title, fill: b.querySelector('.fill').style.width, pct: b.querySelector('.pct').textContent })),
    );
    const worst = assertScores('page', bars, expected);
    for (const b of bars) {
      assert.ok(Math.abs(parseFloat(b.fill) - b.score * 100) < 1e-3, `${b.label}: the bar is filled to its own probability (${b.fill} for ${b.score})`);
      assert.equal(b.pct, `${(b.score * 100).toFixed(1)}%`);
      assert.match(b.cosine, /^cosine similarity -?\d\.\d{3}$/, 'the cosine stays beside the score, as for CLIP');
    }
    t.diagnostic(`tiny-siglip on the page (${engine.name}): worst |score - transformers| ${worst.toExponential(2)}; scores add up to ${bars.reduce((s, b) => s + b.score, 0).toFixed(4)}`);
    assert.equal(await page.isVisible('#scoring-note'), true);
    assert.equal((await page.textContent('#scoring-note')).trim(), NOTE);

    // No Where? controls to click: a sentence instead.
    assert.equal(await page.isVisible('#where'), true);
    assert.equal(await page.isVisible('#where-unavailable'), true);
    assert.equal((await page.textContent('#where-unavailable')).trim(), NO_MAPS);
    assert.equal(await page.isVisible('#where-show'), false);
    assert.equal(await page.isVisible('#where-label'), false);

    // One label: its own probability (not 100%), and the note still says why.
    await page.$eval('#results', (e) => (e.dataset.state = 'stale'));
    await page.fill('#labels', labels[0]);
    await page.click('#classify');
    await page.waitForSelector('#results[data-state="done"], #results[data-state="error"]', { timeout: 300_000 });
    const single = await page.$$eval('#results .bar', (bars) => bars.map((b) => ({ label: b.dataset.label, score: Number(b.dataset.score) })));
    assertScores('page, one label', single, new Map([[labels[0], expected.get(labels[0])]]));
    assert.equal(await page.isVisible('#scoring-note'), true);
    assert.doesNotMatch(await page.textContent('#label-notes'), /always 100%/);

    // Through the JS API: the family, the scoring, no heatmaps, and the same scores.
    const got = await page.evaluate(async ([image, labels, engine]) => {
      const { ClipModel } = await import('/www/webclip.js');
      const model = await ClipModel.load('tests/fixtures/tiny-siglip/', { engine });
      const blob = await (await fetch(`tests/fixtures/images/${image}`)).blob();
      const out = { family: model.family, scoring: model.scoring, maxHeatmapResolution: model.maxHeatmapResolution };
      out.scores = await model.classify(blob, labels);
      out.rescored = await model.scoreEmbedding(await model.embedImage(blob), labels);
      out.heatmap = await model.heatmap(blob, labels).then(() => 'drawn', (e) => e.message);
      model.dispose();
      return out;
    }, [image, labels, engine.engine]);
    assert.deepEqual([got.family, got.scoring, got.maxHeatmapResolution], ['siglip', 'sigmoid', 0]);
    assertScores('model.classify', got.scores, expected);
    assertScores('model.scoreEmbedding', got.rescored, expected);
    assert.match(got.heatmap, /^heatmaps are not available for SigLIP models: /);
    assert.equal(await page.isVisible('#error'), false);
    assert.deepEqual(problems, []);
  });

  test(`a widget switched to SigLIP keeps the reader's picture and labels, and offers no heatmap (${engine.name})`, { timeout: 300_000 }, async (t) => {
    const { image, labels, expected } = expectations();
    const { page, problems } = await openPage(t, 'about:blank', engine);
    await page.addInitScript(() => {
      window.events = [];
      for (const type of ['clip-ready', 'clip-result', 'clip-error']) {
        document.addEventListener(type, (e) => e.target.id === 'sig' && window.events.push({ type, detail: e.detail }));
      }
    });
    await page.goto(`${server.base}www/embed-example.html`);
    const count = (type) => page.evaluate((type) => window.events.filter((e) => e.type === type).length, type);
    /** The detail of the widget's event of `type` after the first `since` (failing on a clip-error). */
    const next = async (type, since) => {
      await page.waitForFunction(([type, since]) => window.events.some((e) => e.type === 'clip-error') || window.events.filter((e) => e.type === type).length > since, [type, since], { timeout: 300_000 });
      const [event, errors] = await page.evaluate(([type, since]) => [window.events.filter((e) => e.type === type)[since], window.events.filter((e) => e.type === 'clip-error')], [type, since]);
      assert.deepEqual(errors.map((e) => e.detail.message), []);
      return event.detail;
    };
    // On CLIP first, with a fixed picture other than the reader's.
    await page.evaluate(([labels, engine]) => {
      const w = document.createElement('clip-classifier');
      w.id = 'sig';
      if (engine) w.setAttribute('engine', engine);
      w.setAttribute('model', '/tests/fixtures/tiny-clip/');
      w.setAttribute('labels', 'a placeholder');
      w.setAttribute('image', '/tests/fixtures/images/rocket.jpg');
      w.setAttribute('editable', '');
      w.setAttribute('heatmap', '');
      w.setAttribute('top', String(labels.length));
      document.body.prepend(w);
    }, [labels, engine.engine]);
    const widget = page.locator('#sig');
    await next('clip-result', 0);
    // The reader's own picture and labels.
    await page.setInputFiles('#sig >> input[type=file]', join(root, 'tests/fixtures/images', image));
    await next('clip-result', 1);
    await widget.locator('textarea').fill(labels.join('\n'));
    await next('clip-result', 2);
    assert.equal(await widget.locator('[part="bar"]').first().getAttribute('role'), 'button', 'CLIP: the bars show maps');
    assert.equal(await widget.locator('[part="note"]').isVisible(), false);

    // The author switches the model: the reader's picture and labels are scored again by SigLIP.
    const [results, readies] = [await count('clip-result'), await count('clip-ready')];
    await page.$eval('#sig', (w) => w.setAttribute('model', '/tests/fixtures/tiny-siglip/'));
    const ready = await next('clip-ready', readies);
    assert.deepEqual([ready.family, ready.scoring], ['siglip', 'sigmoid']);
    const scores = await next('clip-result', results);
    assert.equal(await widget.locator('textarea').inputValue(), labels.join('\n'), 'the labels are kept as typed');
    const worst = assertScores('widget', scores, expected);
    t.diagnostic(`tiny-siglip in the widget (${engine.name}): worst |score - transformers| ${worst.toExponential(2)}`);
    const bars = await widget.locator('[part="bar"]').evaluateAll((bars) =>
      bars.map((b) => ({ label: b.dataset.label, role: b.getAttribute('role'), fill: b.querySelector('[part="fill"]').style.width, text: b.querySelector('[part="score"]').textContent })),
    );
    for (const b of bars) {
      const score = scores.find((s) => s.label === b.label).score;
      assert.ok(Math.abs(parseFloat(b.fill) - score * 100) < 1e-3, `${b.label}: the bar is filled to its own probability (${b.fill} for ${score})`);
      assert.equal(b.text, `${(score * 100).toFixed(1)}%`);
      assert.equal(b.role, null, `${b.label}: no map to show`);
    }
    assert.equal((await widget.locator('[part="note"]').textContent()).trim(), `${NOTE} ${NO_MAPS}`);
    // Selecting a bar does nothing, and nothing fails.
    await widget.locator('[part="bar"]').first().click();
    assert.equal(await widget.locator('[part="heatmap"]').isVisible(), false);
    assert.equal(await widget.locator('[part="image"]').isVisible(), true);
    assert.notEqual(await widget.locator('[part="status"]').getAttribute('data-state'), 'error');
    // The cosine toggle shows cosines: no percentages, so no note about them.
    await widget.locator('[part="toggle"] input').check();
    assert.equal((await widget.locator('[part="note"]').textContent()).trim(), NO_MAPS);
    assert.deepEqual(await page.evaluate(() => window.events.filter((e) => e.type === 'clip-error').map((e) => e.detail.message)), []);
    assert.deepEqual(problems.filter((p) => !/Failed to load resource/.test(p)), []);
  });
}
