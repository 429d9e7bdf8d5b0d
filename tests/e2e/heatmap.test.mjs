// Heatmaps in the browser (issue 18): the JS API against transformers' float64
// ClearCLIP maps (tools/make_heatmap_fixtures.py), the page's "Where?" view and
// the widget's `heatmap` attribute on the demo model, pointing at a drawn
// shape; on WebGPU and, without WebGPU, on the CPU engine.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStatic } from './hub-server.mjs';
import { ENGINES, classify, fixture, openPage, readNpy, root, targetDir, waitForModel } from './support.mjs';

let server;
before(async () => {
  server = await startStatic(root);
});
after(() => server?.close());

// Bounds of tests/common/heatmaps.rs (20x what lavapipe, SwiftShader and the CPU engine measure).
const MAX_COSINE_ERROR = 2e-6;
const MAX_PROBABILITY_ERROR = 1.5e-5;

// Committed drawn scenes and the boxes of their shapes (tests/fixtures/pointing-scenes).
const scenes = JSON.parse(readFileSync(join(root, 'tests/fixtures/pointing-scenes/scenes.json'), 'utf8'));
const labelsOf = (scene) => scene.shapes.map((s) => `${s.colour} ${s.shape}`);
const scene = scenes.scenes[0];
const sceneLabels = labelsOf(scene);

/** Whether the highest cell of `map`'s label `i` falls in the box of `scene`'s shape `i` (widened by half a cell). */
function pointsAt(scene, map, values, i) {
  let best = 0;
  values.forEach((v, j) => (best = v > values[best] ? j : best));
  const cell = map.crop.width / map.cols;
  const x = map.crop.x + ((best % map.cols) + 0.5) * cell;
  const y = map.crop.y + (Math.floor(best / map.cols) + 0.5) * cell;
  const [x0, y0, x1, y1] = scene.shapes[i].box;
  return x0 - cell / 2 <= x && x <= x1 + cell / 2 && y0 - cell / 2 <= y && y <= y1 + cell / 2;
}

for (const engine of ENGINES) {
  test(`model.heatmap matches transformers' ClearCLIP maps (${engine.name})`, { timeout: 300_000 }, async (t) => {
    const { page, problems } = await openPage(t, `${server.base}?model=tests/fixtures/tiny-clip/${engine.query}`, engine);
    await waitForModel(page);
    const listing = JSON.parse(readFileSync(join(fixture, 'expected/heatmaps.json'), 'utf8'));
    const index = listing.cases.findIndex((c) => c.image === 'chelsea.png' && c.resolution === 84);
    const requestsBefore = server.requests.length;
    const got = await page.evaluate(async ([labels, template, engine]) => {
      const { ClipModel } = await import('/www/webclip.js');
      const model = await ClipModel.load('tests/fixtures/tiny-clip/', { engine });
      const blob = await (await fetch('tests/fixtures/images/chelsea.png')).blob();
      const map = await model.heatmap(blob, labels, { template, resolution: 84, overlay: 64 });
      const tooLarge = await model.heatmap(blob, labels, { resolution: 10_000 }).then(() => 'ran', (e) => e.message);
      const plain = { ...map, maps: map.maps.map((m) => Array.from(m)), cosines: map.cosines.map((m) => Array.from(m)) };
      plain.overlays = map.overlays.map((o) => [o.width, o.height, o.data.length, Array.from(o.data.subarray(0, 4))]);
      return { map: plain, tooLarge, max: model.maxHeatmapResolution };
    }, [listing.labels, listing.template, engine.engine]);
    // Only the chelsea.png fetch above, none of the engine's.
    assert.deepEqual(server.requests.slice(requestsBefore).map((r) => r.path), ['/tests/fixtures/images/chelsea.png']);
    const { map } = got;
    assert.deepEqual([map.rows, map.cols, map.resolution], [12, 12, 84]);
    // 451 x 300 resized to 126 x 84, cropped from x = (126 - 84) // 2 = 21: in the picture's pixels x 451/126.
    assert.ok(Math.abs(map.crop.x - (21 * 451) / 126) < 1e-9 && map.crop.y === 0, JSON.stringify(map.crop));
    assert.ok(Math.abs(map.crop.width - (84 * 451) / 126) < 1e-9 && map.crop.height === 300, JSON.stringify(map.crop));
    let worst = { cosines: 0, maps: 0 };
    for (const [kind, file, bound] of [['cosines', 'cosines', MAX_COSINE_ERROR], ['maps', 'probs', MAX_PROBABILITY_ERROR]]) {
      const want = readNpy(join(fixture, `expected/heatmap_${index}_${file}.npy`));
      assert.deepEqual(want.shape, [listing.labels.length, 144]);
      map[kind].forEach((values, l) =>
        values.forEach((v, p) => {
          const err = Math.abs(v - want.data[l * 144 + p]);
          worst[kind] = Math.max(worst[kind], err);
          assert.ok(err <= bound, `${kind} of label ${l}, cell ${p}: ${v} against ${want.data[l * 144 + p]}`);
        }),
      );
    }
    t.diagnostic(`heatmap vs transformers (${engine.name}): worst cosine ${worst.cosines.toExponential(2)}, probability ${worst.maps.toExponential(2)}`);
    assert.equal(map.descriptions.length, 3);
    for (const d of map.descriptions) assert.match(d, /^strongest in the (upper left|top centre|upper right|left|centre|right|lower left|bottom centre|lower right), where \d+% of the picture scores at least half as high$/);
    assert.equal(map.overlays.length, 3);
    assert.deepEqual(map.overlays[0].slice(0, 3), [64, 64, 64 * 64 * 4]);
    assert.equal(map.overlays[0][3][3], 255, 'opaque');
    assert.match(got.tooLarge, new RegExp(`^a heatmap resolution of 10000 px is more than this model's largest, ${got.max} px \\(a \\d+x\\d+ grid of 7-px patches\\)$`));
    assert.deepEqual(problems, []);
  });

  test(`the page's Where? view shows a label's map over the picture (${engine.name})`, { timeout: 300_000 }, async (t) => {
    // The page's default model: the demo model, trained on drawn shapes.
    const { page, problems } = await openPage(t, `${server.base}${engine.query.replace('&', '?')}`, engine);
    await waitForModel(page);
    await classify(page, join(root, 'tests/fixtures/pointing-scenes', scene.file), sceneLabels, 'a {}');
    assert.equal(await page.isVisible('#where'), true, 'the view is offered with the results');
    assert.equal(await page.isVisible('#where-figure'), false, 'the map runs only when asked');
    await page.selectOption('#where-label', sceneLabels[0]);
    await page.click('#where-show');
    await page.waitForSelector('#where-figure:not([hidden])', { timeout: 300_000 });
    const text = await page.textContent('#where-text');
    assert.match(text, new RegExp(`^“${sceneLabels[0]}”: strongest in the .+, where \\d+% of the picture scores at least half as high\\.$`));
    assert.equal(await page.getAttribute('#where-canvas', 'data-label'), sceneLabels[0]);
    assert.match(await page.getAttribute('#where-canvas', 'aria-label'), /^Heatmap of “/);
    // Another label redraws from the maps already made.
    await page.selectOption('#where-label', sceneLabels[1]);
    await page.waitForFunction((l) => document.querySelector('#where-canvas').dataset.label === l, sceneLabels[1]);
    assert.match(await page.textContent('#where-text'), new RegExp(`^“${sceneLabels[1]}”`));
    await page.fill('#where-opacity', '50');
    assert.match(await page.textContent('#where-legend-caption'), /probability of this label among the labels, per patch; a 12 × 12 grid/);
    // The pointing game of tests/pointing_game.rs through the API, on the first 10 scenes:
    // the 80% (natively the whole set scores 98.9% and 95.8%).
    const first = scenes.scenes.slice(0, 10);
    const maps = await page.evaluate(async ([scenes, engine]) => {
      const { ClipModel } = await import('/www/webclip.js');
      const model = await ClipModel.load('www/models/demo/model-q4.webclip', { engine });
      const out = [];
      for (const { file, labels } of scenes) {
        const blob = await (await fetch(`tests/fixtures/pointing-scenes/${file}`)).blob();
        const map = await model.heatmap(blob, labels, { template: 'a {}' });
        out.push({ ...map, maps: map.maps.map((m) => Array.from(m)) });
      }
      return out;
    }, [first.map((s) => ({ file: s.file, labels: labelsOf(s) })), engine.engine]);
    const hits = first.flatMap((s, k) => s.shapes.map((_, i) => pointsAt(s, maps[k], maps[k].maps[i], i)));
    const rate = hits.filter(Boolean).length / hits.length;
    t.diagnostic(`pointing game on ${hits.length} queries of 10 scenes: ${(100 * rate).toFixed(1)}%`);
    assert.ok(rate >= 0.8, `the maps point at the named shapes in ${(100 * rate).toFixed(1)}% of ${hits.length} queries`);
    // The first label again, as a reader comparing maps would (and the README's screenshot).
    await page.selectOption('#where-label', sceneLabels[0]);
    await page.waitForFunction((l) => document.querySelector('#where-canvas').dataset.label === l, sceneLabels[0]);
    mkdirSync(join(targetDir, 'e2e'), { recursive: true });
    await page.locator('#where').screenshot({ path: join(targetDir, `e2e/where-${engine.runs}.png`) });
    assert.deepEqual(problems, []);
  });

  test(`a widget with the heatmap attribute shows a result's map (${engine.name})`, { timeout: 300_000 }, async (t) => {
    const { page, problems } = await openPage(t, 'about:blank', engine);
    await page.goto(`${server.base}www/embed-example.html`);
    await page.evaluate(([labels, file, engine]) => {
      const w = document.createElement('clip-classifier');
      w.id = 'where';
      if (engine) w.setAttribute('engine', engine);
      w.setAttribute('labels', labels.join('; '));
      w.setAttribute('template', 'a {}');
      w.setAttribute('image', `/tests/fixtures/pointing-scenes/${file}`);
      w.setAttribute('heatmap', '');
      document.body.prepend(w);
    }, [sceneLabels, scene.file, engine.engine]);
    const bar = (label) => page.locator('#where').locator(`[part="bar"][data-label="${label}"]`);
    await bar(sceneLabels[0]).waitFor({ timeout: 300_000 });
    await page.waitForFunction(() => document.querySelector('#where').results);
    assert.equal(await bar(sceneLabels[0]).getAttribute('role'), 'button');
    await bar(sceneLabels[0]).click();
    const canvas = page.locator('#where').locator('[part="heatmap"]');
    await canvas.waitFor({ state: 'visible', timeout: 300_000 });
    assert.equal(await canvas.getAttribute('data-label'), sceneLabels[0]);
    assert.match(await canvas.getAttribute('aria-label'), new RegExp(`^Where “${sceneLabels[0]}” matches: strongest in the `));
    assert.equal(await bar(sceneLabels[0]).getAttribute('aria-pressed'), 'true');
    assert.equal(await page.locator('#where').locator('[part="image"]').isVisible(), false);
    // Selecting it again shows the plain picture.
    await bar(sceneLabels[0]).click();
    await canvas.waitFor({ state: 'hidden' });
    assert.equal(await page.locator('#where').locator('[part="image"]').isVisible(), true);
    assert.deepEqual(problems, []);
  });
}
