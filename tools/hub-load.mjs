// Load times of a Hub model in headless Chromium, from the network and from
// the browser's cache: the stand-in Hub of the e2e tests (tests/e2e/hub-server.mjs)
// serves a local Hub-layout directory, once as a checkpoint (quantized in the
// worker) and once holding a converted file. Prints one JSON line per load.
//   node tools/hub-load.mjs --model /work/vitb32 [--weights q8] [--converted FILE.webclip]
// Needs www/pkg (tools/build-web.sh), webclip-serve (cargo build --bin webclip-serve)
// and playwright-core (tests/e2e: npm ci). Localhost has no real network: the
// "network" times are the worker's parsing, quantizing, caching and uploading.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const { startHub } = await import(join(root, 'tests/e2e/hub-server.mjs'));
const { arg, launchChromium, startServer } = await import(join(root, 'tests/e2e/support.mjs'));
const dir = arg('model', '/work/vitb32');
const weights = arg('weights', 'q8');
const converted = arg('converted', '');
const sha = 'c'.repeat(40);
const repos = { 'local/checkpoint': { dir, sha } };
if (converted) repos['local/converted'] = { dir, sha, files: { [`model-${weights}.webclip`]: converted } };

const hub = await startHub(repos);
const server = await startServer();
const browser = await launchChromium();
try {
  const page = await (await browser.newContext()).newPage();
  page.on('console', (m) => m.type() === 'error' && console.error(m.text()));
  for (const id of Object.keys(repos)) {
    for (const visit of ['network', 'cache']) {
      await page.goto(`${server.base}README.md`); // a blank origin: nothing else loads
      hub.requests.length = 0;
      const result = await page.evaluate(
        async ([id, hubUrl, weights]) => {
          const { ClipModel } = await import('/www/webclip.js');
          const started = performance.now();
          const model = await ClipModel.load(id, { hub: hubUrl, weights });
          const seconds = (performance.now() - started) / 1000;
          const out = { seconds, weights: model.weights, gpuBytes: model.gpuBytes, wasmBytes: model.wasmBytes, origin: model.origin, compileMs: model.timings.compileMs };
          model.dispose();
          return out;
        },
        [id, hub.url, weights],
      );
      const cdn = hub.requests.filter((r) => r.origin === 'cdn');
      // Bytes asked of the CDN (Range ends are inclusive; the last one is capped at the file's end).
      const asked = cdn.reduce((sum, r) => sum + (/bytes=(\d+)-(\d+)/.exec(r.range ?? '')?.slice(1).reduce((a, b) => Number(b) - Number(a) + 1) ?? 0), 0);
      console.log(JSON.stringify({ id, visit, weightRequests: cdn.length, bytesAsked: asked, ...result }));
    }
  }
} finally {
  await browser.close();
  server.stop();
  await hub.close();
}
