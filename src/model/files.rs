//! The four files of a Hugging Face CLIP directory, as bytes: the model does
//! not care whether they came from disk, `fetch` or a browser cache.

#[cfg(not(target_arch = "wasm32"))]
use crate::error::{Error, Result};

/// `config.json`, `model.safetensors`, `tokenizer.json`, `preprocessor_config.json`.
pub struct ModelFiles {
    pub config: String,
    pub weights: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub preprocessor: String,
}

/// The file names a Hub CLIP directory uses, in `ModelFiles` field order.
pub const FILE_NAMES: [&str; 4] = ["config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"];

impl ModelFiles {
    /// Reads a Hub-layout directory; a missing or unreadable file is named.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<ModelFiles> {
        if !dir.is_dir() {
            return Err(Error::file(dir.display(), "not a directory (expected a Hugging Face CLIP model directory)"));
        }
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::file(path.display(), format!("missing (a CLIP model directory holds {})", FILE_NAMES.join(", "))),
                _ => Error::file(path.display(), e),
            })
        };
        let text = |name: &str| {
            String::from_utf8(read(name)?).map_err(|_| Error::file(dir.join(name).display(), "is not UTF-8 text"))
        };
        Ok(ModelFiles { config: text(FILE_NAMES[0])?, weights: read(FILE_NAMES[1])?, tokenizer: read(FILE_NAMES[2])?, preprocessor: text(FILE_NAMES[3])? })
    }
}
