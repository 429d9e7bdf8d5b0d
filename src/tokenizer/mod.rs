//! Text tokenizers: the Hub `tokenizer.json` run by the `tokenizers` crate, under the
//! rules of each model family. [`TextTokenizer`] is what a model holds: CLIP's
//! ([`ClipTokenizer`], below) or SigLIP's and SigLIP 2's ([`SigLipTokenizer`], in
//! [`siglip`]), chosen by [`TokenizerKind`].
//!
//! ## CLIP
//!
//! The file carries everything: NFC + whitespace-collapse + lowercase
//! normalizer, CLIP's split regex, byte-level mapping, BPE with a `</w>`
//! end-of-word suffix, and a post-processor adding `<|startoftext|>` (49406)
//! and `<|endoftext|>` (49407). This module only pins what the file must not
//! decide: truncation to [`CONTEXT_LENGTH`] ids (specials included, so start +
//! the first 75 tokens + end) and no padding. Its normalizer and pre-tokenizer must be
//! CLIP's ([`pipeline`]): no other regex pattern from a file is ever run.
//!
//! Ids match transformers' `CLIPTokenizer`/`CLIPTokenizerFast` (the Hub
//! tokenizer), not OpenAI's `simple_tokenizer.py`, which additionally runs
//! `ftfy` and unescapes HTML (`"&amp;"` becomes `"&"` there, not here).
//!
//! No file system access: the caller supplies the bytes, so this works the
//! same natively and on wasm32.

pub mod canonicalize;
pub mod pipeline;
pub mod siglip;
pub mod siglip_pipeline;

pub use siglip::SigLipTokenizer;

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};

/// Ids per text fed to the text encoder, both special tokens included.
pub const CONTEXT_LENGTH: usize = 77;
/// `<|startoftext|>`.
pub const START_OF_TEXT: u32 = 49406;
/// `<|endoftext|>`: the token whose hidden state is pooled.
pub const END_OF_TEXT: u32 = 49407;
/// Size of CLIP's vocabulary, special tokens included.
pub const VOCAB_SIZE: usize = 49408;

/// CLIP's BPE tokenizer with truncation to 77 ids and no padding.
#[derive(Clone)]
pub struct ClipTokenizer {
    inner: Tokenizer,
}

impl std::fmt::Debug for ClipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTokenizer")
            .field("vocab_size", &self.inner.get_vocab_size(true))
            .finish()
    }
}

impl ClipTokenizer {
    /// Loads a Hub-style `tokenizer.json` and checks that it is CLIP's.
    ///
    /// Truncation (77 ids including specials, cut on the right) and padding
    /// (none) are set here, whatever the file says.
    pub fn from_bytes(tokenizer_json: &[u8]) -> Result<Self> {
        // Before the crate compiles any of the file's patterns.
        pipeline::check(tokenizer_json)?;
        let mut inner = Tokenizer::from_bytes(tokenizer_json)
            .map_err(|e| Error::Tokenizer(format!("cannot parse tokenizer.json: {e}")))?;

        let vocab = inner.get_vocab_size(true);
        if vocab != VOCAB_SIZE {
            return Err(Error::Tokenizer(format!(
                "not a CLIP tokenizer: vocabulary has {vocab} entries, expected {VOCAB_SIZE}"
            )));
        }
        for (token, want) in [("<|startoftext|>", START_OF_TEXT), ("<|endoftext|>", END_OF_TEXT)] {
            match inner.token_to_id(token) {
                Some(id) if id == want => {}
                Some(id) => {
                    return Err(Error::Tokenizer(format!(
                        "not a CLIP tokenizer: {token} has id {id}, expected {want}"
                    )))
                }
                None => {
                    return Err(Error::Tokenizer(format!("not a CLIP tokenizer: no {token} token")))
                }
            }
        }

        inner
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: CONTEXT_LENGTH,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| Error::Tokenizer(format!("cannot set truncation: {e}")))?;
        inner.with_padding(None);

        let tok = ClipTokenizer { inner };

        // The file must add the specials itself (post-processor) and lowercase
        // (normalizer); a tokenizer.json missing either gives silently wrong ids.
        let empty = tok.raw_encode("")?;
        if empty != [START_OF_TEXT, END_OF_TEXT] {
            return Err(Error::Tokenizer(format!(
                "not a CLIP tokenizer: the empty text encodes to {empty:?}, expected \
                 [{START_OF_TEXT}, {END_OF_TEXT}] (missing post-processor?)"
            )));
        }
        if tok.raw_encode("A Photo")? != tok.raw_encode("a photo")? {
            return Err(Error::Tokenizer(
                "not a CLIP tokenizer: text is not lowercased (missing normalizer?)".into(),
            ));
        }
        Ok(tok)
    }

    fn raw_encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| Error::Tokenizer(format!("cannot tokenize {text:?}: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Ids of `text` with both specials: `[49406, .., 49407]`, at most 77 ids.
    /// Longer texts keep their first 75 tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let ids = self.raw_encode(text)?;
        // Guard the invariants the text encoder relies on.
        if ids.len() < 2
            || ids.len() > CONTEXT_LENGTH
            || ids[0] != START_OF_TEXT
            || ids[ids.len() - 1] != END_OF_TEXT
        {
            return Err(Error::Tokenizer(format!(
                "tokenizing {text:?} gave {} ids not of the form [{START_OF_TEXT}, .., \
                 {END_OF_TEXT}] with at most {CONTEXT_LENGTH} ids",
                ids.len()
            )));
        }
        Ok(ids)
    }

    /// Whether `text` is longer than the model reads (75 tokens between the
    /// specials), so that [`encode`](Self::encode) keeps only its beginning.
    pub fn truncates(&self, text: &str) -> Result<bool> {
        // Every token covers at least one byte: a short text cannot overflow.
        if text.len() <= CONTEXT_LENGTH - 2 {
            return Ok(false);
        }
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| Error::Tokenizer(format!("cannot tokenize {text:?}: {e}")))?;
        Ok(!enc.get_overflowing().is_empty())
    }

    /// [`encode`](Self::encode) for each text, in order. Runs sequentially
    /// (label lists are short, and wasm32 has no threads).
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        texts.iter().map(|t| self.encode(t)).collect()
    }
}

/// Which rules a model's tokenizer follows: the model's family, from its config.json.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenizerKind {
    /// CLIP: start + at most 75 tokens + end-of-text, no padding ([`ClipTokenizer`]).
    Clip,
    /// SigLIP and SigLIP 2: exactly `max_length` ids, padded ([`SigLipTokenizer`]);
    /// `max_length` is the config's `text_config.max_position_embeddings`. The file
    /// says which of the two vocabularies it is.
    SigLip { max_length: usize },
}

impl TokenizerKind {
    /// The kind for a config.json's `model_type` ("clip" or "siglip") and its
    /// `text_config.max_position_embeddings` (not used by CLIP, whose tokenizer always
    /// cuts at [`CONTEXT_LENGTH`]).
    pub fn for_model_type(model_type: &str, max_position_embeddings: usize) -> Result<Self> {
        match model_type {
            "clip" => Ok(TokenizerKind::Clip),
            "siglip" => Ok(TokenizerKind::SigLip { max_length: max_position_embeddings }),
            other => Err(Error::Tokenizer(format!(
                "no tokenizer for model_type {other:?}, expected \"clip\" or \"siglip\""
            ))),
        }
    }
}

/// The text tokenizer of a model of any supported family.
#[derive(Clone, Debug)]
pub enum TextTokenizer {
    // Boxed: a `tokenizers::Tokenizer` is about 1.5 kB inline.
    Clip(Box<ClipTokenizer>),
    SigLip(SigLipTokenizer),
}

impl TextTokenizer {
    /// Loads a Hub `tokenizer.json` under the rules of `kind`, refusing a file of
    /// another family.
    pub fn from_bytes(tokenizer_json: &[u8], kind: TokenizerKind) -> Result<Self> {
        Ok(match kind {
            TokenizerKind::Clip => {
                TextTokenizer::Clip(Box::new(ClipTokenizer::from_bytes(tokenizer_json)?))
            }
            TokenizerKind::SigLip { max_length } => {
                TextTokenizer::SigLip(SigLipTokenizer::from_bytes(tokenizer_json, max_length)?)
            }
        })
    }

    /// The kind this tokenizer was loaded as.
    pub fn kind(&self) -> TokenizerKind {
        match self {
            TextTokenizer::Clip(_) => TokenizerKind::Clip,
            TextTokenizer::SigLip(t) => TokenizerKind::SigLip { max_length: t.max_length() },
        }
    }

    /// Most ids a text encodes to: 77 for CLIP (fewer for short texts), exactly
    /// `max_length` for SigLIP.
    pub fn context_length(&self) -> usize {
        match self {
            TextTokenizer::Clip(_) => CONTEXT_LENGTH,
            TextTokenizer::SigLip(t) => t.max_length(),
        }
    }

    /// Ids of `text` as the family's text tower takes them (see each tokenizer's
    /// `encode`).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        match self {
            TextTokenizer::Clip(t) => t.encode(text),
            TextTokenizer::SigLip(t) => t.encode(text),
        }
    }

    /// [`encode`](Self::encode) for each text, in order.
    pub fn encode_batch(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        match self {
            TextTokenizer::Clip(t) => t.encode_batch(texts),
            TextTokenizer::SigLip(t) => t.encode_batch(texts),
        }
    }

    /// Whether the model reads only the beginning of `text`.
    pub fn truncates(&self, text: &str) -> Result<bool> {
        match self {
            TextTokenizer::Clip(t) => t.truncates(text),
            TextTokenizer::SigLip(t) => t.truncates(text),
        }
    }
}

/// Index of the pooled (end-of-text) token: the first occurrence of 49407, as
/// transformers' argmax rule gives. (A literal `<|endoftext|>` inside the text
/// is a real 49407, so pooling happens there, as in transformers.)
///
/// For ids without 49407 (never produced by [`ClipTokenizer::encode`]) this
/// falls back to transformers' legacy rule, the first position of the largest
/// id; 0 for an empty slice.
pub fn eos_position(ids: &[u32]) -> usize {
    if let Some(i) = ids.iter().position(|&id| id == END_OF_TEXT) {
        return i;
    }
    let mut best = 0;
    for (i, &id) in ids.iter().enumerate() {
        if id > ids[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny CLIP-shaped tokenizer.json: same pipeline as the Hub file, but
    /// the vocabulary is a few words padded with filler entries up to 49408.
    fn tiny_tokenizer_json(vocab_size: usize, with_post_processor: bool) -> String {
        let mut vocab = serde_json::Map::new();
        let words = ["a</w>", "photo</w>", "of</w>", "cat</w>"];
        let ids = [320u32, 1125, 539, 2368];
        for (w, &id) in words.iter().zip(&ids) {
            vocab.insert((*w).into(), id.into());
        }
        // Single characters needed to spell the words, then filler.
        let mut next = 0u32;
        let mut take = |vocab: &mut serde_json::Map<String, serde_json::Value>, k: String| {
            if vocab.contains_key(&k) {
                return;
            }
            while ids.contains(&next) {
                next += 1;
            }
            vocab.insert(k, next.into());
            next += 1;
        };
        for c in ['a', 'p', 'h', 'o', 't', 'f', 'c'] {
            take(&mut vocab, c.to_string());
            take(&mut vocab, format!("{c}</w>"));
        }
        for piece in ["ph", "pho", "phot", "ca"] {
            take(&mut vocab, piece.to_string());
        }
        while vocab.len() < vocab_size - 2 {
            let k = format!("filler{}", vocab.len());
            take(&mut vocab, k);
        }
        vocab.insert("<|startoftext|>".into(), START_OF_TEXT.into());
        vocab.insert("<|endoftext|>".into(), END_OF_TEXT.into());
        let merges = ["p h", "ph o", "pho t", "phot o</w>", "o f</w>", "c a", "ca t</w>"];
        let post = if with_post_processor {
            serde_json::json!({
                "type": "RobertaProcessing",
                "sep": ["<|endoftext|>", END_OF_TEXT],
                "cls": ["<|startoftext|>", START_OF_TEXT],
                "trim_offsets": false, "add_prefix_space": false
            })
        } else {
            serde_json::Value::Null
        };
        let special = |id: u32, content: &str| {
            serde_json::json!({"id": id, "content": content, "single_word": false,
                "lstrip": false, "rstrip": false, "normalized": false, "special": true})
        };
        serde_json::json!({
            "version": "1.0",
            // Saved-after-use settings that from_bytes must override.
            "truncation": {"direction": "Right", "max_length": 5, "strategy": "LongestFirst", "stride": 0},
            "padding": {"strategy": {"Fixed": 77}, "direction": "Right", "pad_to_multiple_of": null,
                        "pad_id": 0, "pad_type_id": 0, "pad_token": "!"},
            "added_tokens": [special(START_OF_TEXT, "<|startoftext|>"), special(END_OF_TEXT, "<|endoftext|>")],
            "normalizer": {"type": "Sequence", "normalizers": [
                {"type": "NFC"},
                {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
                {"type": "Lowercase"}]},
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex":
                    "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+"},
                 "behavior": "Removed", "invert": true},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]},
            "post_processor": post,
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": "<|endoftext|>",
                "continuing_subword_prefix": "", "end_of_word_suffix": "</w>", "fuse_unk": false,
                "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": merges}
        })
        .to_string()
    }

    fn tiny() -> ClipTokenizer {
        ClipTokenizer::from_bytes(tiny_tokenizer_json(VOCAB_SIZE, true).as_bytes()).unwrap()
    }

    #[test]
    fn a_photo_of_a_cat() {
        // The well-known ids (also entry "basic" of the corpus).
        let ids = tiny().encode("a photo of a cat").unwrap();
        assert_eq!(ids, [49406, 320, 1125, 539, 320, 2368, 49407]);
        // Case and whitespace are normalized away.
        let ids = tiny().encode("  A\tPHOTO \n of a   Cat ").unwrap();
        assert_eq!(ids, [49406, 320, 1125, 539, 320, 2368, 49407]);
    }

    #[test]
    fn empty_and_whitespace() {
        assert_eq!(tiny().encode("").unwrap(), [START_OF_TEXT, END_OF_TEXT]);
        assert_eq!(tiny().encode(" \t\n ").unwrap(), [START_OF_TEXT, END_OF_TEXT]);
    }

    #[test]
    fn file_truncation_and_padding_are_overridden() {
        // The file asks for max_length 5 and padding to 77: both ignored.
        let t = tiny();
        let ids = t.encode("a cat").unwrap();
        assert_eq!(ids, [49406, 320, 2368, 49407]);
        let ids = t.encode(&["a"; 10].join(" ")).unwrap();
        assert_eq!(ids.len(), 12);
    }

    #[test]
    fn truncation_is_reported() {
        let tok = tiny();
        let words = |n: usize| vec!["cat"; n].join(" ");
        // "cat" is one token: 75 fit between the specials, 76 do not.
        assert_eq!(tok.encode(&words(75)).unwrap().len(), 77);
        assert!(!tok.truncates(&words(75)).unwrap());
        assert!(tok.truncates(&words(76)).unwrap());
        assert!(tok.truncates(&"x".repeat(10_000)).unwrap());
        assert!(!tok.truncates("a photo of a cat").unwrap());
    }

    #[test]
    fn truncates_to_77_keeping_start_first_75_and_end() {
        let t = tiny();
        for n in [74usize, 75, 76, 77, 200] {
            let ids = t.encode(&vec!["a"; n].join(" ")).unwrap();
            let kept = n.min(75);
            assert_eq!(ids.len(), kept + 2, "n = {n}");
            assert_eq!(ids[0], START_OF_TEXT);
            assert!(ids[1..=kept].iter().all(|&i| i == 320), "n = {n}");
            assert_eq!(*ids.last().unwrap(), END_OF_TEXT);
            assert_eq!(eos_position(&ids), kept + 1);
        }
    }

    #[test]
    fn literal_specials_are_special() {
        let ids = tiny().encode("a<|endoftext|>cat").unwrap();
        assert_eq!(ids, [49406, 320, 49407, 2368, 49407]);
        assert_eq!(eos_position(&ids), 2);
    }

    #[test]
    fn batch_matches_single() {
        let t = tiny();
        let texts = ["a photo of a cat", "", "a cat"];
        let batch = t.encode_batch(&texts).unwrap();
        for (text, ids) in texts.iter().zip(&batch) {
            assert_eq!(&t.encode(text).unwrap(), ids);
        }
        assert!(t.encode_batch(&[]).unwrap().is_empty());
    }

    #[test]
    fn rejects_non_clip_files() {
        let err = |json: &str| ClipTokenizer::from_bytes(json.as_bytes()).unwrap_err().to_string();
        assert!(err("not json").contains("cannot parse"), "{}", err("not json"));
        let e = err(&tiny_tokenizer_json(1000, true));
        assert!(e.contains("1000") && e.contains("49408"), "{e}");
        let e = err(&tiny_tokenizer_json(VOCAB_SIZE, false));
        assert!(e.contains("post-processor"), "{e}");
        let swapped = tiny_tokenizer_json(VOCAB_SIZE, true)
            .replace("\"<|endoftext|>\":49407", "\"<|endoftext|>\":49405")
            .replace("\"id\":49407", "\"id\":49405");
        let e = err(&swapped);
        assert!(e.contains("<|endoftext|>"), "{e}");
    }

    #[test]
    fn eos_position_rules() {
        assert_eq!(eos_position(&[49406, 320, 49407]), 2);
        assert_eq!(eos_position(&[49406, 49407, 320, 49407]), 1);
        // Padded with end-of-text (OpenAI style) or zeros.
        assert_eq!(eos_position(&[49406, 320, 2368, 49407, 49407, 49407]), 3);
        assert_eq!(eos_position(&[49406, 320, 2368, 49407, 0, 0]), 3);
        // No end-of-text: legacy argmax of the ids.
        assert_eq!(eos_position(&[5, 9, 9, 1]), 1);
        assert_eq!(eos_position(&[]), 0);
    }
}
