//! CLIP itself: configuration, weights, the two towers and zero-shot scores,
//! written once over [`crate::engine::Engine`]; [`Runtime`] is where a face
//! loads a model.

mod clip;
pub mod config;
#[cfg(not(target_arch = "wasm32"))]
pub mod convert;
mod encoder;
pub mod files;
mod head;
pub mod model_file;
pub mod prompt_cache;
mod runtime;
pub mod scores;
pub mod text;
mod towers;
pub mod vision;
pub mod weights;

pub use crate::engine::webgpu::{KernelFamily, KernelTiming};
pub use crate::engine::WeightFormat;
pub use clip::{ClipModel, Features, Score};
pub use config::ClipConfig;
pub use files::{ModelFiles, ModelSource, ModelTexts, Record};
pub use prompt_cache::PromptCache;
pub use runtime::{Adapter, Runtime};
pub use scores::ZeroShot;
