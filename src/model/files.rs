//! The four files of a Hugging Face CLIP directory, as bytes: the model does
//! not care whether they came from disk, `fetch` or a browser cache. A webclip
//! model file (`webclip convert`) is all four in one.

use crate::error::{Error, Result};
use crate::ops::WeightFormat;

use super::model_file;
use super::weights::{Header, TensorSource};

/// A model's files besides its weights.
#[derive(Clone)]
pub struct ModelTexts {
    pub config: String,
    pub tokenizer: Vec<u8>,
    pub preprocessor: String,
}

/// `name` in the model directory `dir`; a missing file is named with what a directory holds.
#[cfg(not(target_arch = "wasm32"))]
fn read_in_dir(dir: &std::path::Path, name: &str) -> Result<Vec<u8>> {
    if !dir.is_dir() {
        return Err(Error::file(dir.display(), "not found (expected a Hugging Face CLIP model directory or a webclip model file)"));
    }
    let path = dir.join(name);
    std::fs::read(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::file(path.display(), format!("missing (a CLIP model directory holds {})", FILE_NAMES.join(", "))),
        _ => Error::file(path.display(), e),
    })
}

impl ModelTexts {
    /// The three text files of a Hub-layout directory.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<ModelTexts> {
        let text = |name: &str| String::from_utf8(read_in_dir(dir, name)?).map_err(|_| Error::file(dir.join(name).display(), "is not UTF-8 text"));
        Ok(ModelTexts { config: text(FILE_NAMES[0])?, tokenizer: read_in_dir(dir, FILE_NAMES[2])?, preprocessor: text(FILE_NAMES[3])? })
    }
}

/// Natively, where a model's weights are: the weights file, to read on demand,
/// and a directory's other files (`None` for a webclip model file).
#[cfg(not(target_arch = "wasm32"))]
pub fn open_path(path: &std::path::Path) -> Result<(super::weights::FileSource, Option<ModelTexts>)> {
    use super::weights::FileSource;
    if path.is_file() {
        return Ok((FileSource::open(path)?, None));
    }
    let texts = ModelTexts::from_dir(path)?;
    let weights = path.join(FILE_NAMES[1]);
    if !weights.is_file() {
        return Err(Error::file(weights.display(), format!("missing (a CLIP model directory holds {})", FILE_NAMES.join(", "))));
    }
    Ok((FileSource::open(&weights)?, Some(texts)))
}

/// A model about to be loaded: its weights file (read on demand), that file's
/// header (already read) and the other files.
pub struct ModelSource<'a> {
    pub weights: &'a dyn TensorSource,
    pub header: Header,
    pub texts: ModelTexts,
}

impl<'a> ModelSource<'a> {
    /// Reads the header of `weights`. `texts` are a directory's other files;
    /// `None` for a webclip model file, whose header holds them.
    pub async fn open(weights: &'a dyn TensorSource, texts: Option<ModelTexts>) -> Result<ModelSource<'a>> {
        let header = Header::read(weights).await?;
        let texts = match texts {
            Some(texts) => texts,
            None => texts_of_model_file(&header.metadata, weights.name())?,
        };
        Ok(ModelSource { weights, header, texts })
    }

    /// The weight format a webclip model file stores; `None` for a checkpoint.
    pub fn stored_format(&self) -> Result<Option<WeightFormat>> {
        self.header.stored_format(self.weights.name())
    }
}

/// A webclip model file's config, tokenizer and preprocessor, from its header.
fn texts_of_model_file(metadata: &safetensors::tensor::Metadata, source: &str) -> Result<ModelTexts> {
    if model_file::stored_format(metadata, source)?.is_none() {
        return Err(Error::file(source, "is a safetensors file but not a webclip model file (give the directory it came from, or run `webclip convert`)"));
    }
    let map = metadata.metadata().clone().unwrap_or_default();
    let text = |key: &str| map.get(key).cloned().ok_or_else(|| Error::file(source, format!("webclip model file without {key} in its header")));
    let [config, tokenizer, preprocessor] = model_file::EMBEDDED_FILES.map(text);
    Ok(ModelTexts { config: config?, tokenizer: tokenizer?.into_bytes(), preprocessor: preprocessor? })
}

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
        let ModelTexts { config, tokenizer, preprocessor } = texts_of_model_file(&metadata, source)?;
        Ok(ModelFiles { config, tokenizer, preprocessor, weights })
    }

    pub fn texts(&self) -> ModelTexts {
        ModelTexts { config: self.config.clone(), tokenizer: self.tokenizer.clone(), preprocessor: self.preprocessor.clone() }
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
        let texts = ModelTexts::from_dir(dir)?;
        let weights = read_in_dir(dir, FILE_NAMES[1])?;
        Ok(ModelFiles { config: texts.config, weights, tokenizer: texts.tokenizer, preprocessor: texts.preprocessor })
    }
}
