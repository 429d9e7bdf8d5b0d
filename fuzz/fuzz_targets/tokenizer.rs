//! `ClipTokenizer::encode` with the real CLIP vocabulary on arbitrary UTF-8
//! text: it must always succeed with ids of the form the text encoder
//! relies on, `[start, .., end]`, at most 77 of them, all in the vocabulary.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use webclip::tokenizer::{eos_position, ClipTokenizer, CONTEXT_LENGTH, END_OF_TEXT, START_OF_TEXT, VOCAB_SIZE};

/// Parsed once: the file is 3.6 MB.
static TOKENIZER: LazyLock<ClipTokenizer> = LazyLock::new(|| ClipTokenizer::from_bytes(include_bytes!("../../tests/fixtures/tiny-clip/tokenizer.json")).unwrap());

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    let ids = TOKENIZER.encode(text).unwrap_or_else(|e| panic!("{text:?} does not tokenize: {e}"));
    assert!((2..=CONTEXT_LENGTH).contains(&ids.len()), "{text:?}: {} ids", ids.len());
    assert_eq!((ids[0], ids[ids.len() - 1]), (START_OF_TEXT, END_OF_TEXT), "{text:?}: {ids:?}");
    assert!(ids.iter().all(|&id| (id as usize) < VOCAB_SIZE), "{text:?}: {ids:?}");
    // The pooled token is a real end-of-text, never past the ids.
    assert_eq!(ids[eos_position(&ids)], END_OF_TEXT, "{text:?}: {ids:?}");
});
