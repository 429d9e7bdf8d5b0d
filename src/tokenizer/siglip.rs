//! The text tokenizers of Google's SigLIP and SigLIP 2, as transformers feeds them to
//! the model: every text becomes exactly `max_length` ids (the config's
//! `text_config.max_position_embeddings`, 64 for the released checkpoints), its tokens
//! cut to `max_length - 1`, then the end-of-sequence token, then padding on the right.
//! This is what the zero-shot pipeline asks for SigLIP (`padding="max_length",
//! max_length=64, truncation=True`) and what both towers were trained on; the text
//! tower pools the last position, padding included, so the padding is part of the
//! input, not a convenience.
//!
//! From a Hub `tokenizer.json` alone ([`siglip_pipeline`](super::siglip_pipeline)
//! says which files are accepted), matching the classes transformers 5 picks for a
//! checkpoint whose `model_type` is "siglip":
//! - **SigLIP** (SentencePiece Unigram): transformers' `SiglipTokenizer`, its slow
//!   SentencePiece tokenizer (there is no fast one). It lowercases, deletes ASCII
//!   punctuation and collapses whitespace in Python before SentencePiece (its
//!   `canonicalize_text`), none of which a tokenizer.json carries: webclip does the
//!   same in Rust ([`canonicalize`](super::canonicalize)). Like it, only `</s>` and
//!   `<unk>` typed in a label are special tokens (`<pad>` is text), and the "▁" word
//!   prefix goes only at the start of the text, not after such a token. Pads with
//!   `</s>` (id 1, the same id as the end-of-sequence token).
//! - **SigLIP 2** (Gemma's BPE with byte fallback): transformers' `GemmaTokenizer`
//!   (the Hub files' `tokenizer_class`). No lowercasing, although SigLIP 2 was trained
//!   on lowercased text: transformers lowercases only for `model_type` "siglip2" (the
//!   NaFlex checkpoints, `Siglip2Tokenizer`). Pads with `<pad>` (id 0).
//!
//! No attention mask: SigLIP's text tower attends to the padding too.
//!
//! No file system access: the caller supplies the bytes, natively and on wasm32.

use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::ModelWrapper;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::processors::PostProcessorWrapper;
use tokenizers::{
    Encoding, Tokenizer, TokenizerImpl, TruncationDirection, TruncationParams, TruncationStrategy,
};

use super::canonicalize::Canonicalize;
use super::siglip_pipeline::{self, Vocab};
use crate::error::{Error, Result};

/// Largest `tokenizer.json` accepted, in bytes. SigLIP 2's (Gemma's 256,000-entry
/// vocabulary and merges) is about 34 MB, a 32,000-piece SentencePiece one a few MB;
/// 64 MiB leaves room for a re-indented copy of Gemma's while refusing files no
/// browser tab should parse.
pub const MAX_FILE_BYTES: usize = 64 << 20;

/// Largest vocabulary accepted, added tokens included: Gemma's 256,000 (SigLIP 2) is
/// the largest of the supported families; 2^18 leaves a little room above it.
pub const MAX_VOCAB: usize = 1 << 18;

/// Longest `max_length` accepted (the released checkpoints use 64).
pub const MAX_LENGTH_LIMIT: usize = 4096;

/// SigLIP's tokenizer: the file's pipeline behind SigLIP's Python-side
/// canonicalization.
type Canonicalizing = TokenizerImpl<
    ModelWrapper,
    Canonicalize,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

#[derive(Clone)]
enum Inner {
    /// SigLIP: rebuilt with [`Canonicalize`] in front of the file's normalizer.
    Canonicalizing(Box<Canonicalizing>),
    /// SigLIP 2: the file as it is (its normalizer is checked to be Gemma's).
    AsIs(Box<Tokenizer>),
}

impl Inner {
    fn encode(&self, text: &str) -> Result<Encoding> {
        match self {
            Inner::Canonicalizing(t) => t.encode(text, true),
            Inner::AsIs(t) => t.encode(text, true),
        }
        .map_err(|e| Error::Tokenizer(format!("cannot tokenize {text:?}: {e}")))
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        match self {
            Inner::Canonicalizing(t) => t.token_to_id(token),
            Inner::AsIs(t) => t.token_to_id(token),
        }
    }

    fn vocab_size(&self) -> usize {
        match self {
            Inner::Canonicalizing(t) => t.get_vocab_size(true),
            Inner::AsIs(t) => t.get_vocab_size(true),
        }
    }

    fn with_truncation(&mut self, max_length: usize) -> Result<()> {
        let params = Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        });
        match self {
            Inner::Canonicalizing(t) => t.with_truncation(params).map(|_| ()),
            Inner::AsIs(t) => t.with_truncation(params).map(|_| ()),
        }
        .map_err(|e| Error::Tokenizer(format!("cannot set truncation: {e}")))
    }
}

/// SigLIP's or SigLIP 2's tokenizer: exactly `max_length` ids per text.
#[derive(Clone)]
pub struct SigLipTokenizer {
    inner: Inner,
    vocab: Vocab,
    max_length: usize,
    eos_id: u32,
    pad_id: u32,
}

impl std::fmt::Debug for SigLipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigLipTokenizer")
            .field("vocab", &self.vocab)
            .field("vocab_size", &self.inner.vocab_size())
            .field("max_length", &self.max_length)
            .field("eos_id", &self.eos_id)
            .field("pad_id", &self.pad_id)
            .finish()
    }
}

impl SigLipTokenizer {
    /// Loads a Hub `tokenizer.json` of SigLIP (SentencePiece Unigram) or SigLIP 2
    /// (Gemma BPE), after checking its layout. Truncation and padding are set here
    /// (`max_length` ids, cut and padded on the right), whatever the file says.
    pub fn from_bytes(tokenizer_json: &[u8], max_length: usize) -> Result<Self> {
        if tokenizer_json.len() > MAX_FILE_BYTES {
            return Err(Error::Tokenizer(format!(
                "tokenizer.json has {} bytes, more than the {MAX_FILE_BYTES} accepted (SigLIP \
                 2's, the largest supported, has about 34 MB)",
                tokenizer_json.len()
            )));
        }
        if !(2..=MAX_LENGTH_LIMIT).contains(&max_length) {
            return Err(Error::Tokenizer(format!(
                "max_length {max_length} is not in 2..={MAX_LENGTH_LIMIT} (SigLIP's is 64: its \
                 text_config.max_position_embeddings)"
            )));
        }
        // Before the crate compiles any of the file's patterns.
        let vocab = siglip_pipeline::check(tokenizer_json)?;
        let mut file = Tokenizer::from_bytes(tokenizer_json)
            .map_err(|e| Error::Tokenizer(format!("cannot parse tokenizer.json: {e}")))?;
        let mut inner = match vocab {
            Vocab::SentencePieceUnigram => Inner::Canonicalizing(Box::new(canonicalizing(&file)?)),
            Vocab::GemmaBpe => {
                file.with_padding(None);
                Inner::AsIs(Box::new(file))
            }
        };
        inner.with_truncation(max_length)?;

        let size = inner.vocab_size();
        if size > MAX_VOCAB {
            return Err(Error::Tokenizer(format!(
                "tokenizer.json has {size} tokens, more than the {MAX_VOCAB} accepted (SigLIP \
                 2's Gemma vocabulary, the largest supported, has 256,000)"
            )));
        }
        let id_of = |token: &str, role: &str| {
            inner.token_to_id(token).ok_or_else(|| {
                Error::Tokenizer(format!(
                    "tokenizer.json has no {token} token (the {role} token of {})",
                    family(vocab)
                ))
            })
        };
        let eos_id = id_of(vocab.eos_token(), "end-of-sequence")?;
        let pad_id = id_of(vocab.pad_token(), "padding")?;
        if vocab == Vocab::GemmaBpe {
            for byte in 0..=255u8 {
                id_of(&format!("<0x{byte:02X}>"), "byte-fallback")?;
            }
        }
        let tok = SigLipTokenizer { inner, vocab, max_length, eos_id, pad_id };

        // The post-processor must append the very token the vocabulary calls eos.
        let empty = tok.inner.encode("")?;
        if empty.get_ids() != [eos_id] {
            return Err(Error::Tokenizer(format!(
                "tokenizer.json: the empty text encodes to {:?}, expected [{eos_id}] ({} alone: \
                 does the post_processor's id match the vocabulary's?)",
                empty.get_ids(),
                vocab.eos_token()
            )));
        }
        Ok(tok)
    }

    /// Exactly `max_length` ids: the text's tokens (at most `max_length - 1`, the first
    /// ones), the end-of-sequence id, then the padding id.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text)?;
        let mut ids = enc.get_ids().to_vec();
        // Guard the invariants the text tower relies on.
        if ids.is_empty() || ids.len() > self.max_length || ids.last() != Some(&self.eos_id) {
            return Err(Error::Tokenizer(format!(
                "tokenizing {text:?} gave {} ids not ending with {} ({}) within {}",
                ids.len(),
                self.vocab.eos_token(),
                self.eos_id,
                self.max_length
            )));
        }
        ids.resize(self.max_length, self.pad_id);
        Ok(ids)
    }

    /// [`encode`](Self::encode) for each text, in order. Runs sequentially (label
    /// lists are short, and wasm32 has no threads).
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        texts.iter().map(|t| self.encode(t)).collect()
    }

    /// Whether `text` has more tokens than fit before the end-of-sequence token, so
    /// that [`encode`](Self::encode) keeps only its beginning.
    pub fn truncates(&self, text: &str) -> Result<bool> {
        Ok(!self.inner.encode(text)?.get_overflowing().is_empty())
    }

    /// The id texts are padded with (SigLIP: `</s>`, the same as [`eos_id`](Self::eos_id);
    /// SigLIP 2: `<pad>`).
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The id ending every text's tokens (SigLIP: `</s>`; SigLIP 2: `<eos>`).
    pub fn eos_id(&self) -> u32 {
        self.eos_id
    }

    /// Ids per text.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Which of the two vocabularies the file holds.
    pub fn vocab(&self) -> Vocab {
        self.vocab
    }

    /// Size of the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.vocab_size()
    }
}

fn family(vocab: Vocab) -> &'static str {
    match vocab {
        Vocab::SentencePieceUnigram => "SigLIP's SentencePiece vocabulary",
        Vocab::GemmaBpe => "SigLIP 2's Gemma vocabulary",
    }
}

/// The tokens transformers' `SiglipTokenizer` finds in a text: its eos (also its
/// padding token) and unk. A `<pad>` typed in a label is text there.
const SIGLIP_SPECIAL_TOKENS: [&str; 2] = ["</s>", "<unk>"];

/// `file` rebuilt as transformers' `SiglipTokenizer` runs it:
/// - SigLIP's canonicalization in front of the file's normalizer;
/// - the "▁" prefix only at the start of the text (`SiglipTokenizer.tokenize`
///   prepends one "▁" to the whole text; the pieces after a special token get none):
///   Metaspace with prepend scheme "first";
/// - of the file's added tokens only SigLIP's special ones, re-added in id order
///   (their matching depends on the normalizer).
fn canonicalizing(file: &Tokenizer) -> Result<Canonicalizing> {
    let split = match file.get_pre_tokenizer() {
        Some(PreTokenizerWrapper::Metaspace(m)) => m.get_split(),
        other => {
            return Err(Error::Internal(format!(
                "checked pre_tokenizer is not Metaspace: {other:?}"
            )))
        }
    };
    let mut t = Canonicalizing::new(file.get_model().clone());
    t.with_normalizer(Some(Canonicalize { then: file.get_normalizer().cloned() }))
        .with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::First, split)))
        .with_post_processor(file.get_post_processor().cloned())
        .with_decoder(file.get_decoder().cloned());
    let mut added: Vec<_> = file.get_added_tokens_decoder().into_iter().collect();
    added.retain(|(_, token)| SIGLIP_SPECIAL_TOKENS.contains(&token.content.as_str()));
    added.sort_by_key(|(id, _)| *id);
    for (id, token) in added {
        let content = token.content.clone();
        if token.special {
            t.add_special_tokens(&[token]);
        } else {
            t.add_tokens(&[token]);
        }
        if t.token_to_id(&content) != Some(id) {
            return Err(Error::Tokenizer(format!(
                "tokenizer.json: added token {content:?} has id {id}, but the vocabulary gives \
                 it {:?}",
                t.token_to_id(&content)
            )));
        }
    }
    Ok(t)
}
