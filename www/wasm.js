// The engine's wasm build for this page, and its start. tools/build-web.sh makes
//   pkg/          simd128, one thread: every browser since 2021, every page;
//   pkg-relaxed/  the same with relaxed SIMD (its f32 matmul on fused multiply-adds),
//                 one thread: where the browser validates relaxed SIMD (wasm-features.js);
//   pkg-threads/  relaxed SIMD and wasm threads (where a nightly Rust is installed): the
//                 CPU engine's matmuls and attention on a pool of web workers that share
//                 the module's memory (src/engine/cpu/kernels/matmul/wasm.rs).
// Shared memory needs a cross-origin-isolated page (COOP + COEP headers, as
// webclip-serve sends); an article embedding the widget usually is not, and
// gets a one-thread build. Where the threaded build is missing or its pool
// cannot start (workers from another origin than the page: a CDN), the engine
// runs on this worker's thread alone: slower, never broken. A browser without
// relaxed SIMD gets pkg/ even on an isolated page (the threaded build needs both).
//
// No top-level await here: a module worker that is still evaluating its imports
// drops the messages the page posts meanwhile.

import { relaxedSimd } from './wasm-features.js';

const THREAD_START_MS = 15_000;
const MAX_THREADS = 8;

/** `./<dir>/webclip.js` imported, or undefined where that build is not there. */
async function build(dir) {
  try {
    // A URL, not a literal: bundlers leave it alone (an app built with one gets the
    // simd128 build, which they bundle).
    return await import(/* @vite-ignore */ new URL(`./${dir}/webclip.js`, import.meta.url).href);
  } catch {
    // Not built here (tools/build-web.sh without a nightly toolchain), or not shipped.
    return undefined;
  }
}

async function pick() {
  if (relaxedSimd()) {
    const threads = globalThis.crossOriginIsolated === true ? await build('pkg-threads') : undefined;
    if (threads) return { glue: threads, threaded: true };
    const relaxed = await build('pkg-relaxed');
    if (relaxed) return { glue: relaxed, threaded: false };
  }
  return { glue: await import('./pkg/webclip.js'), threaded: false };
}

let started;
let instantiated;

/** Bytes of wasm memory so far; undefined before the module is instantiated. */
export const memoryBytes = () => instantiated?.wasmMemoryBytes();

/**
 * The engine's module (`{ Engine, Image, ... }`), instantiated once (later
 * calls wait for the first); in the threaded build with its pool started, one
 * worker per core (up to 8).
 */
export function init() {
  started ??= (async () => {
    const { glue, threaded } = await pick();
    await glue.default();
    instantiated = glue;
    if (!threaded) return glue;
    const threads = Math.max(1, Math.min(navigator.hardwareConcurrency || 1, MAX_THREADS));
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the pool's ${threads} workers did not start within ${THREAD_START_MS / 1000} s`)), THREAD_START_MS);
    });
    try {
      await Promise.race([glue.initThreadPool(threads), timeout]);
    } catch (e) {
      // rayon then runs every task on this thread (its fallback where no pool was built).
      console.warn(`webclip: running the CPU engine on one thread: ${e.message ?? e}`);
    } finally {
      clearTimeout(timer);
    }
    return glue;
  })();
  return started;
}
