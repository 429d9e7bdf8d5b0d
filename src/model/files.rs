//! The four files of a Hugging Face CLIP directory, as bytes: the model does
//! not care whether they came from disk, `fetch` or a browser cache. A webclip
//! model file (`webclip convert`) is all four in one.

#[cfg(not(target_arch = "wasm32"))]
use crate::error::Error;
use crate::error::Result;
use crate::ops::WeightFormat;

use super::header::Header;
#[cfg(not(target_arch = "wasm32"))]
use super::reader::FileSource;
use super::reader::{ByteSink, TensorSource};
#[cfg(not(target_arch = "wasm32"))]
use super::texts::read_in_dir;

// Where these were defined before texts.rs.
pub use super::texts::{ModelTexts, FILE_NAMES};

/// Natively, where a model's weights are: the weights file, to read on demand,
/// and a directory's other files (`None` for a webclip model file).
#[cfg(not(target_arch = "wasm32"))]
pub fn open_path(path: &std::path::Path) -> Result<(FileSource, Option<ModelTexts>)> {
    if path.is_file() {
        return Ok((FileSource::open(path)?, None));
    }
    let texts = ModelTexts::from_dir(path)?;
    let weights = path.join(FILE_NAMES[1]);
    if !weights.is_file() {
        return Err(Error::file(
            weights.display(),
            format!("missing (a CLIP model directory holds {})", FILE_NAMES.join(", ")),
        ));
    }
    Ok((FileSource::open(&weights)?, Some(texts)))
}

/// A model about to be loaded: its weights file (read on demand), that file's
/// header (already read) and the other files.
pub struct ModelSource<'a> {
    pub weights: &'a dyn TensorSource,
    pub header: Header,
    pub texts: ModelTexts,
    /// Where to write the model file of what is loaded, if anywhere.
    pub record: Option<Record<'a>>,
}

/// A model file written while loading: where, and the source it names.
pub struct Record<'a> {
    pub sink: &'a dyn ByteSink,
    pub source: String,
}

impl<'a> ModelSource<'a> {
    /// Reads the header of `weights`. `texts` are a directory's other files;
    /// `None` for a webclip model file, whose header holds them.
    pub async fn open(
        weights: &'a dyn TensorSource,
        texts: Option<ModelTexts>,
    ) -> Result<ModelSource<'a>> {
        let header = Header::read(weights).await?;
        let texts = match texts {
            Some(texts) => texts,
            None => header.texts(weights.name())?,
        };
        Ok(ModelSource { weights, header, texts, record: None })
    }

    /// The weight format a webclip model file stores; `None` for a checkpoint.
    pub fn stored_format(&self) -> Result<Option<WeightFormat>> {
        self.header.stored_format(self.weights.name())
    }

    /// The format to load in: `asked`, else the one a model file stores, else f32.
    pub fn format(&self, asked: Option<WeightFormat>) -> Result<WeightFormat> {
        match asked {
            Some(format) => Ok(format),
            None => Ok(self.stored_format()?.unwrap_or(WeightFormat::F32)),
        }
    }
}

/// `config.json`, `model.safetensors`, `tokenizer.json`, `preprocessor_config.json`.
pub struct ModelFiles {
    pub config: String,
    pub weights: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub preprocessor: String,
}

impl ModelFiles {
    pub fn texts(&self) -> ModelTexts {
        ModelTexts {
            config: self.config.clone(),
            tokenizer: self.tokenizer.clone(),
            preprocessor: self.preprocessor.clone(),
        }
    }

    /// One of the text files (`config.json`, `tokenizer.json`,
    /// `preprocessor_config.json`) of a directory, or from a webclip model
    /// file's header (without reading its weights).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_text_file(path: &std::path::Path, name: &str) -> Result<Vec<u8>> {
        if !path.is_file() {
            let file = path.join(name);
            return std::fs::read(&file).map_err(|e| Error::file(file.display(), e));
        }
        let file = FileSource::open(path)?;
        let texts = super::reader::ready(ModelSource::open(&file, None))?.texts;
        Ok(match name {
            "config.json" => texts.config.into_bytes(),
            "tokenizer.json" => texts.tokenizer,
            _ => texts.preprocessor.into_bytes(),
        })
    }

    /// Reads a Hub-layout directory; a missing or unreadable file is named.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path) -> Result<ModelFiles> {
        let texts = ModelTexts::from_dir(dir)?;
        let weights = read_in_dir(dir, FILE_NAMES[1])?;
        Ok(ModelFiles {
            config: texts.config,
            weights,
            tokenizer: texts.tokenizer,
            preprocessor: texts.preprocessor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::ClipConfig;
    use super::super::reader::{ready, BytesSource};
    use super::*;

    #[test]
    fn a_model_file_claiming_absurdly_many_layers_is_refused_before_its_tensors_are_listed() {
        // A 969-byte model file header (made for the safetensors_header fuzz target, which ran
        // out of memory on it) whose config.json has 10^8 text layers.
        let file = BytesSource {
            bytes: include_bytes!("../../tests/fixtures/fuzz/layers-1e8.webclip"),
            name: "m.webclip".into(),
        };
        let source = ready(ModelSource::open(&file, None)).unwrap();
        let err = ClipConfig::from_json(&source.texts.config).unwrap_err().to_string();
        assert!(
            err.contains("num_hidden_layers is 100000000, more than the 1000 allowed"),
            "{err}"
        );
    }
}
