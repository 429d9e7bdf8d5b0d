//! What a `tokenizer.json` may run before BPE: its normalizer and pre-tokenizer, checked
//! against CLIP's own before the file is used.
//!
//! The `tokenizers` crate runs a file's `Split` and `Replace` patterns in a backtracking
//! regex engine (fancy-regex on wasm32). A crafted pattern such as `(a|a)+$` takes
//! exponential time on ordinary labels: seconds for "a photo of a golden retriever",
//! longer for each word more, in the browser's worker with every widget on the page
//! waiting behind it and no way to cancel. So only the structures of the model families
//! we support are accepted, patterns compared as exact strings; anything else is refused
//! with a message naming what differs, before a label is ever tokenized.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// CLIP's split pattern (openai/clip-vit-*, and OpenCLIP's Hub exports of CLIP models).
pub const CLIP_SPLIT: &str = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";

/// The two parts of the file checked here; the rest (vocabulary, merges) is skipped unread.
#[derive(Deserialize)]
struct Pipeline {
    #[serde(default)]
    normalizer: Value,
    #[serde(default)]
    pre_tokenizer: Value,
}

/// CLIP's normalizer: NFC, runs of whitespace to one space, lowercase.
fn clip_normalizer() -> Value {
    json!({"type": "Sequence", "normalizers": [
        {"type": "NFC"},
        {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
        {"type": "Lowercase"}]})
}

/// Checks that `tokenizer_json` runs CLIP's normalizer and pre-tokenizer and nothing else.
pub fn check(tokenizer_json: &[u8]) -> Result<()> {
    let refuse = |what: String| {
        Err(Error::Tokenizer(format!(
            "tokenizer.json: {what}; webclip runs only CLIP's tokenizer pipeline (its patterns \
             run in a backtracking regex engine, where a crafted one can stall the page)"
        )))
    };
    let file: Pipeline = serde_json::from_slice(tokenizer_json)
        .map_err(|e| Error::Tokenizer(format!("cannot parse tokenizer.json: {e}")))?;
    if file.normalizer != clip_normalizer() {
        return refuse(format!("its normalizer is not CLIP's: {}", brief(&file.normalizer)));
    }
    let steps = match &file.pre_tokenizer {
        Value::Object(o) if o.get("type") == Some(&json!("Sequence")) => o.get("pretokenizers"),
        _ => None,
    };
    let [split, byte_level] = steps.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
    else {
        return refuse(format!(
            "its pre_tokenizer is not CLIP's Split then ByteLevel: {}",
            brief(&file.pre_tokenizer)
        ));
    };
    let want_split = json!({"type": "Split", "pattern": {"Regex": CLIP_SPLIT}, "behavior": "Removed", "invert": true});
    if *split != want_split {
        return refuse(format!("its Split step is not CLIP's: {}", brief(split)));
    }
    // ByteLevel's own regex is built into the crate (GPT-2's), not read from the file.
    if byte_level.get("type") != Some(&json!("ByteLevel")) {
        return refuse(format!("its second pre-tokenizer is not ByteLevel: {}", brief(byte_level)));
    }
    Ok(())
}

/// At most 200 characters of `v`, for a message.
pub(super) fn brief(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real() -> Value {
        serde_json::from_slice(include_bytes!("../../tests/fixtures/tokenizer/tokenizer.json"))
            .unwrap()
    }

    fn check_value(v: &Value) -> Result<()> {
        check(v.to_string().as_bytes())
    }

    #[test]
    fn accepts_the_real_clip_file() {
        check_value(&real()).unwrap();
    }

    #[test]
    fn refuses_other_patterns_and_steps_naming_them() {
        let cases: [(&str, Value, &str); 5] = [
            (
                "/pre_tokenizer/pretokenizers/0/pattern/Regex",
                json!("(a|a)+$"),
                "its Split step is not CLIP's",
            ),
            (
                "/normalizer/normalizers/1/pattern/Regex",
                json!("(\\s|\\s)+"),
                "its normalizer is not CLIP's",
            ),
            ("/normalizer", Value::Null, "its normalizer is not CLIP's: null"),
            (
                "/pre_tokenizer",
                json!({"type": "Whitespace"}),
                "its pre_tokenizer is not CLIP's Split then ByteLevel",
            ),
            (
                "/pre_tokenizer/pretokenizers/1",
                json!({"type": "Metaspace"}),
                "its second pre-tokenizer is not ByteLevel",
            ),
        ];
        for (pointer, value, want) in cases {
            let mut file = real();
            *file.pointer_mut(pointer).unwrap() = value;
            let err = check_value(&file).unwrap_err().to_string();
            assert!(err.contains(want), "{pointer}: {err}");
            assert!(err.contains("tokenizer.json:"), "{err}");
        }
    }
}
