//! One error type for the whole crate. Every variant names what was wrong
//! (the file, the tensor, the image, the label) so the CLI and the browser can
//! show a one-line message without a backtrace.

/// Everything that can go wrong between "some files and labels" and "probabilities".
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or is not what it claims to be.
    #[error("{path}: {message}")]
    File { path: String, message: String },
    /// An image could not be decoded or is unusable.
    #[error("image {name}: {message}")]
    Image { name: String, message: String },
    /// A weight tensor is missing, mis-shaped or of an unsupported dtype.
    #[error("tensor {name}: {message}")]
    Tensor { name: String, message: String },
    /// `config.json` / `preprocessor_config.json` is missing a field or contradicts itself.
    #[error("config: {0}")]
    Config(String),
    /// The tokenizer file is unusable or a text could not be tokenized.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The caller asked for something impossible (no labels, empty batch, ...).
    #[error("{0}")]
    Input(String),
    /// webclip broke one of its own rules (a planned file and what was written
    /// disagree, a header it made does not serialize): a bug, not the input's fault.
    #[error("internal error: {0}")]
    Internal(String),
    /// The GPU refused: no adapter, a limit too small, a failed readback.
    #[error("gpu: {0}")]
    Gpu(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn file(path: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Error::File { path: path.to_string(), message: message.to_string() }
    }
    pub fn image(name: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Error::Image { name: name.to_string(), message: message.to_string() }
    }
    pub fn tensor(name: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Error::Tensor { name: name.to_string(), message: message.to_string() }
    }
}
