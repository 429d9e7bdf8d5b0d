//! A model's files besides its weights (`config.json`, `tokenizer.json`,
//! `preprocessor_config.json`), as they come from a directory or a webclip
//! model file's header, and the names a Hugging Face CLIP directory uses.

#[cfg(not(target_arch = "wasm32"))]
use crate::error::{Error, Result};

/// The file names a Hub CLIP directory uses, in `ModelFiles` field order.
pub const FILE_NAMES: [&str; 4] =
    ["config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"];

/// A model's files besides its weights.
#[derive(Clone)]
pub struct ModelTexts {
    pub config: String,
    pub tokenizer: Vec<u8>,
    pub preprocessor: String,
}

/// `name` in the model directory `dir`; a missing file is named with what a directory holds.
#[cfg(not(target_arch = "wasm32"))]
pub(super) fn read_in_dir(dir: &std::path::Path, name: &str) -> Result<Vec<u8>> {
    if !dir.is_dir() {
        return Err(Error::file(
            dir.display(),
            "not found (expected a Hugging Face CLIP model directory or a webclip model file)",
        ));
    }
    let path = dir.join(name);
    std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::file(
            path.display(),
            format!("missing (a CLIP model directory holds {})", FILE_NAMES.join(", ")),
        ),
        _ => Error::file(path.display(), e),
    })
}

impl ModelTexts {
    /// The three text files of a Hub-layout directory.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<ModelTexts> {
        let text = |name: &str| {
            String::from_utf8(read_in_dir(dir, name)?)
                .map_err(|_| Error::file(dir.join(name).display(), "is not UTF-8 text"))
        };
        Ok(ModelTexts {
            config: text(FILE_NAMES[0])?,
            tokenizer: read_in_dir(dir, FILE_NAMES[2])?,
            preprocessor: text(FILE_NAMES[3])?,
        })
    }
}
