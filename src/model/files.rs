//! The four files of a Hugging Face CLIP directory, as bytes: the model does
//! not care whether they came from disk, `fetch` or a browser cache. A webclip
//! model file (`webclip convert`) is all four in one.

use crate::error::{Error, Result};
use crate::ops::WeightFormat;

use super::model_file;

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
    /// A webclip model file: the weights, with config, tokenizer and
    /// preprocessor taken from its header; `source` names it in errors.
    pub fn from_model_file(weights: Vec<u8>, source: &str) -> Result<ModelFiles> {
        let (_, metadata) = model_file::read_header(&weights, source)?;
        if model_file::stored_format(&metadata, source)?.is_none() {
            return Err(Error::file(source, "is a safetensors file but not a webclip model file (give the directory it came from, or run `webclip convert`)"));
        }
        let map = metadata.metadata().clone().unwrap_or_default();
        let text = |key: &str| map.get(key).cloned().ok_or_else(|| Error::file(source, format!("webclip model file without {key} in its header")));
        let [config, tokenizer, preprocessor] = model_file::EMBEDDED_FILES.map(text);
        Ok(ModelFiles { config: config?, tokenizer: tokenizer?.into_bytes(), preprocessor: preprocessor?, weights })
    }

    /// The weight format a webclip model file stores; `None` for a Hugging Face checkpoint.
    pub fn stored_format(&self) -> Result<Option<WeightFormat>> {
        let (_, metadata) = model_file::read_header(&self.weights, FILE_NAMES[1])?;
        model_file::stored_format(&metadata, FILE_NAMES[1])
    }

    /// One of the text files (`config.json`, `tokenizer.json`,
    /// `preprocessor_config.json`) of a directory, or from a webclip model
    /// file's header (without reading its weights).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_text_file(path: &std::path::Path, name: &str) -> Result<Vec<u8>> {
        use std::io::Read;
        if !path.is_file() {
            let file = path.join(name);
            return std::fs::read(&file).map_err(|e| Error::file(file.display(), e));
        }
        let source = path.display().to_string();
        let mut f = std::fs::File::open(path).map_err(|e| Error::file(&source, e))?;
        let mut prefix = [0u8; 8];
        f.read_exact(&mut prefix).map_err(|_| Error::file(&source, "not a safetensors file: under 8 bytes"))?;
        let n = u64::from_le_bytes(prefix).min(model_file::MAX_HEADER_BYTES + 1);
        let mut head = prefix.to_vec();
        f.take(n).read_to_end(&mut head).map_err(|e| Error::file(&source, e))?;
        let (_, metadata) = model_file::read_header(&head, &source)?;
        model_file::stored_format(&metadata, &source)?.ok_or_else(|| Error::file(&source, "is not a webclip model file"))?;
        let text = metadata.metadata().as_ref().and_then(|m| m.get(name)).ok_or_else(|| Error::file(&source, format!("has no {name} in its header")))?;
        Ok(text.clone().into_bytes())
    }

    /// A Hub-layout directory or a webclip model file.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_path(path: &std::path::Path) -> Result<ModelFiles> {
        if path.is_file() {
            let bytes = std::fs::read(path).map_err(|e| Error::file(path.display(), e))?;
            return Self::from_model_file(bytes, &path.display().to_string());
        }
        Self::from_dir(path)
    }

    /// Reads a Hub-layout directory; a missing or unreadable file is named.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<ModelFiles> {
        if !dir.is_dir() {
            return Err(Error::file(dir.display(), "not found (expected a Hugging Face CLIP model directory or a webclip model file)"));
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
