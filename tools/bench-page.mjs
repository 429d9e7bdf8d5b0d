// Runs www/bench.html in headless Chromium (SwiftShader WebGPU) and prints its
// report: the browser's kernel and model benchmark, as users run it on their GPU.
//   node tools/bench-page.mjs [--model /work/vitb32 | FILE.webclip] [--samples 5] [--families registers] [--weights f32,q8]
//                             [--engines webgpu,cpu] [--no-webgpu] [--not-isolated]
// `--no-webgpu` starts Chromium without WebGPU (the CPU engine's case); `--engines` as bench.html's;
// `--not-isolated` serves the page without COOP/COEP (one thread for the CPU engine, as in an article).
// Needs www/pkg (tools/build-web.sh), the server (cargo build --bin webclip-serve)
// and playwright-core (tests/e2e: npm ci).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const { arg, launchChromium } = await import(join(root, 'tests/e2e/support.mjs'));
const model = arg('model', '');
const samples = arg('samples', '5');
const families = arg('families', 'registers,tiled');
const weights = arg('weights', 'f32,f16,q8,q4');
const engines = arg('engines', '');
const webgpu = !process.argv.includes('--no-webgpu');
const serveRoot = model ? '/' : root; // a model outside the repository needs a wider root
const server = spawn(join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug/webclip-serve'), ['--port', '0', '--root', serveRoot, ...(process.argv.includes('--not-isolated') ? ['--not-isolated'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
const base = await new Promise((resolve, reject) => {
  server.stdout.on('data', (chunk) => {
    const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(String(chunk));
    if (match) resolve(match[0]);
  });
  server.on('exit', (code) => reject(new Error(`webclip-serve exited with ${code}`)));
});
const page_path = model ? join(root, 'www/bench.html').slice(1) : 'www/bench.html';
const isFile = /\.(webclip|safetensors)$/.test(model);
const model_path = model ? `/${model.replace(/^\/+/, '').replace(/\/?$/, isFile ? '' : '/')}` : '';
const browser = await launchChromium({ webgpu });
try {
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error(m.text()));
  await page.goto(`${base}${page_path}?auto=1&samples=${samples}&families=${families}&weights=${weights}${engines ? `&engines=${engines}` : ''}&model=${encodeURIComponent(model_path)}`);
  await page.waitForFunction(() => window.benchReport || window.benchError, null, { timeout: 0 });
  const error = await page.evaluate(() => window.benchError);
  if (error) throw new Error(error);
  console.log(await page.$eval('#bench-report', (t) => t.value.split('\n').filter((l) => !l.startsWith('{')).join('\n')));
} finally {
  await browser.close();
  server.kill();
}
