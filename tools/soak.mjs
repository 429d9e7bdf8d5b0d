// The soak run, by hand: classifies in a loop in headless Chromium for a given
// time (labels new every run, so the worker's label cache keeps evicting),
// and prints, once a minute, the worker's GPU buffers and bytes (as the
// engine counts them, and as WebGPU does: the census is turned on), its wasm
// memory, the runs done and any error. Ends with a JSON summary. The
// endurance test (tests/e2e/reliability.test.mjs) is the short version that
// runs in CI.
//   node tools/soak.mjs [--minutes 60] [--model www/models/demo/model-q4.webclip]
// Needs www/pkg (tools/build-web.sh), webclip-serve (cargo build --bin
// webclip-serve) and playwright-core (tests/e2e: npm ci).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const { arg, launchChromium, startServer } = await import(join(root, 'tests/e2e/support.mjs'));
const minutes = Number(arg('minutes', 60));
const model = arg('model', 'www/models/demo/model-q4.webclip');

const server = await startServer();
const browser = await launchChromium();
try {
  const page = await (await browser.newContext()).newPage();
  page.on('console', (m) => m.type() === 'error' && console.error(m.text()));
  page.on('pageerror', (e) => console.error(e.message));
  await page.goto(`${server.base}README.md`); // a blank origin: nothing else loads
  await page.exposeFunction('report', (line) => console.log(line));
  const summary = await page.evaluate(
    async ({ model, minutes }) => {
      const { ClipModel, countGpuBuffers, memoryUsage } = await import('/www/webclip.js');
      countGpuBuffers(); // before the first load
      const clip = await ClipModel.load(model);
      const samples = await (await fetch('/www/models/demo/samples/labels.json')).json();
      const pictures = await Promise.all(Object.keys(samples.images).map(async (f) => (await fetch(`/www/models/demo/samples/${f}`)).blob()));
      const colours = ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'black', 'white'];
      const shapes = ['circle', 'square', 'triangle', 'star', 'cross'];
      const started = performance.now();
      const rows = [];
      let runs = 0;
      let errors = 0;
      let nextReport = 0;
      while (performance.now() - started < minutes * 60_000) {
        if (performance.now() - started >= nextReport) {
          const m = { minute: Math.round(nextReport / 60_000), runs, errors, ...(await memoryUsage()) };
          rows.push(m);
          await window.report(JSON.stringify(m));
          nextReport += 60_000;
        }
        // Five labels, one of them new on every run.
        const labels = [...colours.slice(runs % 4, (runs % 4) + 4).map((c) => `a ${c} ${shapes[runs % 5]}`), `a drawing number ${runs}`];
        try {
          await clip.classify(pictures[runs % pictures.length], labels, { template: 'a {}' });
        } catch (e) {
          errors++;
          await window.report(`run ${runs}: ${e.message}`);
        }
        runs++;
      }
      rows.push({ minute: minutes, runs, errors, ...(await memoryUsage()) });
      return { runs, errors, msPerRun: (performance.now() - started) / runs, first: rows[1] ?? rows[0], last: rows.at(-1) };
    },
    { model, minutes },
  );
  console.log(JSON.stringify({ model, minutes, ...summary }));
} finally {
  await browser.close();
  server.stop();
}
