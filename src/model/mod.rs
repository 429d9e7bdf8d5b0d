//! CLIP itself: configuration, weights, the two towers and zero-shot scores,
//! written once over [`crate::engine::Engine`]; [`Runtime`] is where a face
//! loads a model.
//!
//! Loading, each module using only those listed before it: `reader` (byte
//! access: files, memory, sinks), `header` (the safetensors header), `schema`
//! (every tensor a config implies), `precision` (the format each matrix is
//! packed in), `texts` (a model's other files),
//! `model_file` (the webclip one-file format), `table` (the check of stored
//! tensors against the schema), `weights` (checked, streamed reads), `files`
//! (a model source: weights, header, texts), `convert` (a load that writes a
//! model file instead of uploading).

mod attention_pool;
mod clip;
pub mod config;
#[cfg(not(target_arch = "wasm32"))]
pub mod convert;
mod encoder;
pub mod files;
mod head;
pub mod header;
pub mod heatmap;
pub mod model_file;
pub mod precision;
pub mod prompt_cache;
pub mod reader;
mod runtime;
pub mod schema;
pub mod scores;
mod table;
pub mod text;
pub mod texts;
mod towers;
pub mod vision;
pub mod weights;

pub use crate::engine::webgpu::{KernelFamily, KernelTiming};
pub use crate::engine::WeightFormat;
pub use clip::{ClipModel, Features, Score};
pub use config::ClipConfig;
pub use files::{ModelFiles, ModelSource, ModelTexts, Record};
pub use prompt_cache::PromptCache;
pub use runtime::{Adapter, EngineChoice, Runtime};
pub use scores::ZeroShot;
