//! The four files of a Hugging Face CLIP directory, as bytes: the model does
//! not care whether they came from disk, `fetch` or a browser cache. A webclip
//! model file (`webclip convert`) is all four in one.

use crate::error::{Error, Result};
use crate::ops::WeightFormat;

use super::model_file;
use super::weights::{ByteSink, Header, TensorSource};

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

/// Natively, where a model's weights are: the weights file, to read on demand,
/// and a directory's other files (`None` for a webclip model file).
#[cfg(not(target_arch = "wasm32"))]
pub fn open_path(
    path: &std::path::Path,
) -> Result<(super::weights::FileSource, Option<ModelTexts>)> {
    use super::weights::FileSource;
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
            None => texts_of_model_file(&header.metadata, weights.name())?,
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

/// A webclip model file's config, tokenizer and preprocessor, from its header.
fn texts_of_model_file(
    metadata: &safetensors::tensor::Metadata,
    source: &str,
) -> Result<ModelTexts> {
    if model_file::stored_format(metadata, source)?.is_none() {
        return Err(Error::file(source, "is a safetensors file but not a webclip model file (give the directory it came from, or run `webclip convert`)"));
    }
    let map = metadata.metadata().clone().unwrap_or_default();
    let text = |key: &str| {
        map.get(key).cloned().ok_or_else(|| {
            Error::file(source, format!("webclip model file without {key} in its header"))
        })
    };
    let [config, tokenizer, preprocessor] = model_file::EMBEDDED_FILES.map(text);
    Ok(ModelTexts {
        config: config?,
        tokenizer: tokenizer?.into_bytes(),
        preprocessor: preprocessor?,
    })
}

/// `config.json`, `model.safetensors`, `tokenizer.json`, `preprocessor_config.json`.
pub struct ModelFiles {
    pub config: String,
    pub weights: Vec<u8>,
    pub tokenizer: Vec<u8>,
    pub preprocessor: String,
}

/// The file names a Hub CLIP directory uses, in `ModelFiles` field order.
pub const FILE_NAMES: [&str; 4] =
    ["config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"];

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
        let file = super::weights::FileSource::open(path)?;
        // FileSource reads are synchronous: the future is ready at once.
        let header = pollster::block_on(Header::read(&file))?;
        let texts = texts_of_model_file(&header.metadata, file.name())?;
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
