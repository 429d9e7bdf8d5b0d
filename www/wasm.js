// The engine's wasm build for this page, and its start. tools/build-web.sh makes
//   pkg/          simd128, one thread: every browser since 2021, every page;
//   pkg-threads/  the same with wasm threads (where a nightly Rust is installed): the
//                 CPU engine's matmuls and attention on a pool of web workers that share
//                 the module's memory (src/engine/cpu/kernels/matmul/wasm.rs).
// Shared memory needs a cross-origin-isolated page (COOP + COEP headers, as
// webclip-serve sends); an article embedding the widget usually is not, and
// gets the one-thread build. Where the threaded build is missing or its pool
// cannot start (workers from another origin than the page: a CDN), the engine
// runs on this worker's thread alone: slower, never broken.
//
// No top-level await here: a module worker that is still evaluating its imports
// drops the messages the page posts meanwhile.

const THREAD_START_MS = 15_000;
const MAX_THREADS = 8;

async function pick() {
  if (globalThis.crossOriginIsolated === true) {
    try {
      // A URL, not a literal: bundlers leave it alone (an app built with one gets the
      // one-thread build, which they bundle).
      const url = new URL('./pkg-threads/webclip.js', import.meta.url).href;
      return { glue: await import(/* @vite-ignore */ url), threaded: true };
    } catch {
      // Not built here (tools/build-web.sh without a nightly toolchain), or not shipped.
    }
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
