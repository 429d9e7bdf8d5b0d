//! CLIP itself: configuration, weights, the two towers and zero-shot scores.

mod clip;
pub mod config;
#[cfg(not(target_arch = "wasm32"))]
pub mod convert;
mod encoder;
pub mod files;
pub mod model_file;
pub mod prompt_cache;
pub mod scores;
pub mod text;
pub mod vision;
pub mod weights;

pub use clip::{ClipModel, Score};
pub use config::ClipConfig;
pub use files::{ModelFiles, ModelSource, ModelTexts, Record};
pub use prompt_cache::PromptCache;
