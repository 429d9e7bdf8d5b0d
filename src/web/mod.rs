//! The browser API (wasm32 only): a thin wasm-bindgen layer over [`ClipModel`].
//!
//! - [`Engine`] (`engine.rs`): a [`crate::model::Runtime`], one per page or
//!   worker. Every model loaded through it shares its kernels, and creating
//!   it can overlap the weights download.
//! - [`Image`] (`image.rs`): a decoded picture, from encoded file bytes (Pillow-exact) or
//!   from canvas RGBA.
//! - [`Model`] (`model.rs`): classify, heatmaps (`heatmap.rs` makes their JS object),
//!   embed images and texts, and the timings of the last calls.
//! - [`SearchIndex`] (`search.rs`): photo search's index of image embeddings.
//!
//! Errors become `JsError`s carrying the engine's message, which names the
//! file, tensor, image or label at fault. Calls on one model may overlap: each
//! forward pass writes its inputs and submits without yielding in between
//! (`Engine::run` of the engine seam); `www/worker.js` still queues them, for
//! fair ordering. `js_io.rs` holds the byte readers and sinks JavaScript lends.

mod engine;
mod heatmap;
mod image;
mod js_io;
mod model;
mod search;

pub use engine::Engine;
pub use image::Image;
pub use model::Model;
pub use search::SearchIndex;
/// `initThreadPool(n)`: the threaded build's rayon pool on `n` web workers sharing this
/// module's memory (`www/wasm.js` calls it where the page is cross-origin isolated).
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Traps (wasm `unreachable`), as a panic or an out-of-memory does: the worker's restart
/// is tested with a real trap, not a thrown JS error (`simulateCrash` in www/webclip.js).
#[wasm_bindgen(js_name = trapForTests)]
pub fn trap_for_tests() {
    core::arch::wasm32::unreachable()
}

/// Bytes of wasm memory in use (grown so far): the worker's memory report, the same
/// whether the memory is the module's own or imported and shared (threaded build).
#[wasm_bindgen(js_name = wasmMemoryBytes)]
pub fn wasm_memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) * 65536) as f64
}

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

/// A plain JS object (it survives `postMessage`, unlike wasm-bindgen classes).
fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (key, value) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&o, &(*key).into(), value);
    }
    o.into()
}

/// `object[key]` when it is a function.
fn js_function(object: &JsValue, key: &str) -> Option<js_sys::Function> {
    Reflect::get(object, &key.into()).ok()?.dyn_into().ok()
}

/// `object[key]` when it is a string.
fn js_string(object: &JsValue, key: &str) -> Option<String> {
    Reflect::get(object, &key.into()).ok()?.as_string()
}

/// A thrown JS value's message.
fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}
