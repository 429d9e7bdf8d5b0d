//! webclip: OpenAI's CLIP on WebGPU with hand-written WGSL kernels.
//!
//! Layers, each depending only on those above it:
//! - [`gpu`]: device, buffers, kernels, async readback
//! - [`ops`]: one module per kernel in `shaders/`, with its CPU reference and tests
//! - [`image`], [`tokenizer`]: CPU-side preprocessing, no GPU
//! - [`model`]: configuration, weights, the two encoders, zero-shot scores
//! - [`search`]: photo search over an index of image embeddings (no engine)
//! - `web` (wasm32 only): the wasm-bindgen API `www/worker.js` drives

pub mod clock;
pub mod engine;
pub mod error;
pub mod gpu;
pub mod image;
pub mod model;
pub mod npy;
pub mod ops;
pub mod search;
pub mod tokenizer;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
