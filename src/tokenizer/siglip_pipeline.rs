//! Which `tokenizer.json` files [`SigLipTokenizer`](super::SigLipTokenizer) runs: the
//! layouts of SigLIP's and SigLIP 2's, checked before the `tokenizers` crate compiles a
//! single pattern from the file (see [`pipeline`](super::pipeline) for why: the crate
//! runs a file's regexes in a backtracking engine, where a crafted one stalls the page).
//!
//! The two vocabularies ([`Vocab`]):
//! - **SigLIP**: T5's SentencePiece Unigram model (32,000 pieces, `<pad>` 0, `</s>` 1,
//!   `<unk>` 2). Normalizer: optionally the canonicalization steps of a SigLIP-specific
//!   converter (`Lowercase`, the punctuation `Replace`, `Replace("\s+" → " ")`,
//!   `Strip`: no-ops after webclip's own canonicalization, which runs first), optionally
//!   `Precompiled` (SentencePiece's NFKC table: data, not a pattern) or `NFKC`, then the
//!   space handling of transformers' SentencePiece converters, `Replace(" {2,}" → " ")`
//!   or `Strip(right), Replace(" {2,}" → "▁")`. Pre-tokenizer `Metaspace("▁")`
//!   prepending "▁" to the text (prepend_scheme "always"); post-processor `$A </s>`; decoder `Metaspace` or none.
//! - **SigLIP 2**: Gemma's BPE (256,000 entries, byte fallback over `<0x00>`..`<0xFF>`,
//!   `<pad>` 0, `<eos>` 1): normalizer `Replace(" " → "▁")` and nothing else (exactly
//!   what transformers' `GemmaTokenizer` rebuilds, whatever the file says); no
//!   pre-tokenizer or `Split(" ", MergedWithPrevious)` (the same thing after that
//!   normalizer); post-processor `$A <eos>` (how google/siglip2-* were saved: no
//!   `<bos>`); decoder `Replace("▁" → " "), ByteFallback, Fuse`.
//!
//! Patterns are compared as exact strings; anything else is refused with a message
//! naming the field, what it holds and what was expected.

use serde::Deserialize;
use serde_json::{json, Value};

use super::pipeline::brief;
use crate::error::{Error, Result};

/// The vocabulary, and with it the tokenizer family, a checked file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vocab {
    /// SigLIP: T5's SentencePiece Unigram model. Text is canonicalized first
    /// (lowercase, no ASCII punctuation: see [`canonicalize`](super::canonicalize)).
    SentencePieceUnigram,
    /// SigLIP 2: Gemma's byte-fallback BPE. Text is not lowercased (transformers'
    /// `GemmaTokenizer` does not, for `model_type` "siglip").
    GemmaBpe,
}

impl Vocab {
    /// The token appended to every text (by the file's post-processor).
    pub fn eos_token(self) -> &'static str {
        match self {
            Vocab::SentencePieceUnigram => "</s>",
            Vocab::GemmaBpe => "<eos>",
        }
    }

    /// The token texts are padded with: SigLIP's tokenizer_config.json says `</s>`
    /// (`SiglipTokenizer`'s default too), Gemma's `<pad>`. A tokenizer.json does not
    /// record it.
    pub fn pad_token(self) -> &'static str {
        match self {
            Vocab::SentencePieceUnigram => "</s>",
            Vocab::GemmaBpe => "<pad>",
        }
    }
}

/// The parts of the file checked here; the vocabulary and merges are skipped unread.
#[derive(Deserialize)]
struct Pipeline {
    #[serde(default)]
    normalizer: Value,
    #[serde(default)]
    pre_tokenizer: Value,
    #[serde(default)]
    post_processor: Value,
    #[serde(default)]
    decoder: Value,
    model: Model,
}

#[derive(Deserialize)]
struct Model {
    #[serde(rename = "type")]
    kind: Option<String>,
    // Unigram
    unk_id: Option<Value>,
    // BPE
    unk_token: Option<String>,
    byte_fallback: Option<bool>,
    fuse_unk: Option<bool>,
    dropout: Option<Value>,
    continuing_subword_prefix: Option<String>,
    end_of_word_suffix: Option<String>,
    ignore_merges: Option<bool>,
}

/// Python's `string.punctuation` as a regex class, in the two spellings SigLIP
/// converters use: `"[" + re.escape(string.punctuation) + "]"` (Python 3.7+), and the
/// class with only `\\ [ ] ^ -` escaped.
pub const SIGLIP_PUNCTUATION: [&str; 2] = [
    "[!\"\\#\\$%\\&'\\(\\)\\*\\+,\\-\\./:;<=>\\?@\\[\\\\\\]\\^_`\\{\\|\\}\\~]",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]\\^_`{|}~]",
];

fn refuse<T>(what: String) -> Result<T> {
    Err(Error::Tokenizer(format!(
        "tokenizer.json: {what}; webclip runs only the tokenizer pipelines of CLIP, SigLIP \
         and SigLIP 2 (a file's patterns run in a backtracking regex engine, where a crafted \
         one can stall the page)"
    )))
}

/// Checks that `tokenizer_json` is laid out as SigLIP's or SigLIP 2's and says which.
pub fn check(tokenizer_json: &[u8]) -> Result<Vocab> {
    let file: Pipeline = serde_json::from_slice(tokenizer_json)
        .map_err(|e| Error::Tokenizer(format!("cannot parse tokenizer.json: {e}")))?;
    let vocab = check_model(&file.model)?;
    match vocab {
        Vocab::SentencePieceUnigram => {
            check_unigram_normalizer(&file.normalizer)?;
            check_metaspace(&file.pre_tokenizer)?;
            if !(file.decoder.is_null() || is_metaspace(&file.decoder)) {
                return refuse(format!(
                    "its decoder is not SigLIP's Metaspace: {}",
                    brief(&file.decoder)
                ));
            }
        }
        Vocab::GemmaBpe => {
            let gemma = json!({"type": "Replace", "pattern": {"String": " "}, "content": "▁"});
            if file.normalizer != gemma {
                return refuse(format!(
                    "its normalizer is not Gemma's Replace(\" \" -> \"▁\"): {} (transformers' \
                     GemmaTokenizer would run Replace alone, whatever the file says)",
                    brief(&file.normalizer)
                ));
            }
            let split = json!({"type": "Split", "pattern": {"String": " "},
                               "behavior": "MergedWithPrevious", "invert": false});
            if !(file.pre_tokenizer.is_null() || file.pre_tokenizer == split) {
                return refuse(format!(
                    "its pre_tokenizer is not Gemma's (none, or Split(\" \", MergedWithPrevious)): {}",
                    brief(&file.pre_tokenizer)
                ));
            }
            let decoder = json!({"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"}]});
            if !(file.decoder.is_null() || file.decoder == decoder) {
                return refuse(format!(
                    "its decoder is not Gemma's Replace, ByteFallback, Fuse: {}",
                    brief(&file.decoder)
                ));
            }
        }
    }
    check_post_processor(&file.post_processor, vocab.eos_token())?;
    Ok(vocab)
}

fn check_model(model: &Model) -> Result<Vocab> {
    match model.kind.as_deref() {
        Some("Unigram") => {
            if !model.unk_id.as_ref().is_some_and(Value::is_u64) {
                return refuse("its Unigram model has no unk_id".into());
            }
            Ok(Vocab::SentencePieceUnigram)
        }
        Some("BPE") => {
            let expect = |field: &str, ok: bool, found: String, want: &str| {
                if ok {
                    Ok(())
                } else {
                    refuse(format!(
                        "model.{field} is {found}, expected {want} (Gemma's BPE, as \
                         transformers' GemmaTokenizer builds it)"
                    ))
                }
            };
            expect(
                "byte_fallback",
                model.byte_fallback == Some(true),
                format!("{:?}", model.byte_fallback),
                "true",
            )?;
            expect(
                "fuse_unk",
                model.fuse_unk == Some(true),
                format!("{:?}", model.fuse_unk),
                "true",
            )?;
            expect(
                "unk_token",
                model.unk_token.as_deref() == Some("<unk>"),
                format!("{:?}", model.unk_token),
                "\"<unk>\"",
            )?;
            expect(
                "dropout",
                model.dropout.as_ref().is_none_or(Value::is_null),
                format!("{:?}", model.dropout),
                "null",
            )?;
            for (field, value) in [
                ("continuing_subword_prefix", &model.continuing_subword_prefix),
                ("end_of_word_suffix", &model.end_of_word_suffix),
            ] {
                expect(
                    field,
                    value.as_deref().is_none_or(str::is_empty),
                    format!("{value:?}"),
                    "null",
                )?;
            }
            expect("ignore_merges", model.ignore_merges != Some(true), "true".into(), "false")?;
            Ok(Vocab::GemmaBpe)
        }
        other => refuse(format!(
            "model.type is {other:?}, expected \"Unigram\" (SigLIP) or \"BPE\" (SigLIP 2's Gemma)"
        )),
    }
}

/// The normalizer of a SentencePiece Unigram file: optional SigLIP canonicalization
/// steps (no-ops after webclip's own, which runs first), optional Unicode
/// normalization, then the space handling of one of transformers' SentencePiece
/// converters.
fn check_unigram_normalizer(normalizer: &Value) -> Result<()> {
    let steps: Vec<Value> = match normalizer {
        Value::Object(o) if o.get("type") == Some(&json!("Sequence")) => {
            o.get("normalizers").and_then(Value::as_array).cloned().unwrap_or_default()
        }
        Value::Null => vec![],
        one => vec![one.clone()],
    };
    let replace = |pattern: &str, content: &str| json!({"type": "Replace", "pattern": {"Regex": pattern}, "content": content});
    // Each optional step, in order, with the forms it may take.
    let canonical: [Vec<Value>; 4] = [
        vec![json!({"type": "Lowercase"})],
        SIGLIP_PUNCTUATION.iter().map(|p| replace(p, "")).collect(),
        vec![replace("\\s+", " ")],
        vec![json!({"type": "Strip", "strip_left": true, "strip_right": true})],
    ];
    let mut rest = steps.as_slice();
    for forms in &canonical {
        if rest.first().is_some_and(|s| forms.contains(s)) {
            rest = &rest[1..];
        }
    }
    match rest.first().and_then(|s| s.get("type")).and_then(Value::as_str) {
        // SentencePiece's own table (data, not a pattern).
        Some("Precompiled") => {
            let charsmap = &rest[0]["precompiled_charsmap"];
            if !(charsmap.is_string() || charsmap.is_null()) {
                return refuse("its Precompiled normalizer has no precompiled_charsmap".into());
            }
            rest = &rest[1..];
        }
        Some("NFKC") if rest[0] == json!({"type": "NFKC"}) => rest = &rest[1..],
        _ => {}
    }
    let older = [replace(" {2,}", " ")];
    let newer =
        [json!({"type": "Strip", "strip_left": false, "strip_right": true}), replace(" {2,}", "▁")];
    if rest != older.as_slice() && rest != newer.as_slice() {
        return refuse(format!(
            "its normalizer is not SigLIP's SentencePiece one ([Lowercase], [punctuation \
             Replace], [Replace(\"\\s+\" -> \" \")], [Strip], [Precompiled or NFKC], then \
             Replace(\" {{2,}}\" -> \" \") or Strip(right), Replace(\" {{2,}}\" -> \"▁\")): {}",
            brief(normalizer)
        ));
    }
    Ok(())
}

fn is_metaspace(v: &Value) -> bool {
    v.get("type") == Some(&json!("Metaspace")) && v.get("replacement") == Some(&json!("▁"))
}

/// `Metaspace("▁")` prepending "▁" to the text (as SentencePiece's dummy prefix does).
///
/// Only `prepend_scheme` "always": "first" prepends only to a piece starting at offset
/// 0 of the input, so a label whose leading spaces or punctuation canonicalization
/// removed would lose its "▁" (the slow tokenizer keeps it).
fn check_metaspace(pre_tokenizer: &Value) -> Result<()> {
    let prepends = match pre_tokenizer.get("prepend_scheme").and_then(Value::as_str) {
        Some(scheme) => scheme == "always",
        // Files older than tokenizers 0.14 say add_prefix_space instead.
        None => pre_tokenizer.get("add_prefix_space") == Some(&json!(true)),
    };
    if !is_metaspace(pre_tokenizer) || !prepends {
        return refuse(format!(
            "its pre_tokenizer is not SigLIP's Metaspace(\"▁\", prepend_scheme \"always\"): {}",
            brief(pre_tokenizer)
        ));
    }
    Ok(())
}

/// `TemplateProcessing` with `single` = `$A <eos>`: every text ends with `eos`.
fn check_post_processor(post: &Value, eos: &str) -> Result<()> {
    let single = json!([{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": eos, "type_id": 0}}]);
    let tokens = &post["special_tokens"][eos];
    if post.get("type") != Some(&json!("TemplateProcessing"))
        || post.get("single") != Some(&single)
        || tokens.get("tokens") != Some(&json!([eos]))
        || tokens["ids"].as_array().is_none_or(|ids| ids.len() != 1)
    {
        return refuse(format!(
            "its post_processor is not TemplateProcessing \"$A {eos}\" (every text ends with \
             {eos}): {}",
            brief(post)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn siglip() -> Value {
        serde_json::from_slice(include_bytes!(
            "../../tests/fixtures/tokenizer-siglip/tokenizer.json"
        ))
        .unwrap()
    }

    fn siglip2() -> Value {
        serde_json::from_slice(include_bytes!(
            "../../tests/fixtures/tokenizer-siglip2/tokenizer.json"
        ))
        .unwrap()
    }

    fn check_value(v: &Value) -> Result<Vocab> {
        check(v.to_string().as_bytes())
    }

    #[test]
    fn tells_the_two_vocabularies_apart() {
        assert_eq!(check_value(&siglip()).unwrap(), Vocab::SentencePieceUnigram);
        assert_eq!(check_value(&siglip2()).unwrap(), Vocab::GemmaBpe);
        assert_eq!(
            (Vocab::SentencePieceUnigram.eos_token(), Vocab::SentencePieceUnigram.pad_token()),
            ("</s>", "</s>")
        );
        assert_eq!((Vocab::GemmaBpe.eos_token(), Vocab::GemmaBpe.pad_token()), ("<eos>", "<pad>"));
    }

    #[test]
    fn the_punctuation_patterns_are_python_string_punctuation() {
        // Both spellings name exactly the 32 ASCII punctuation characters.
        for pattern in SIGLIP_PUNCTUATION {
            let inner = &pattern[1..pattern.len() - 1];
            let mut chars = Vec::new();
            let mut it = inner.chars();
            while let Some(c) = it.next() {
                chars.push(if c == '\\' { it.next().unwrap() } else { c });
            }
            let want: Vec<char> =
                (0u8..128).map(char::from).filter(char::is_ascii_punctuation).collect();
            chars.sort();
            assert_eq!(chars, want, "{pattern}");
        }
    }

    #[test]
    fn refuses_other_patterns_naming_the_field() {
        let cases: [(Value, &str, Value, &str); 5] = [
            (
                siglip(),
                "/normalizer/normalizers/1/pattern/Regex",
                json!("(a|a)+$"),
                "its normalizer is not SigLIP's",
            ),
            (
                siglip(),
                "/pre_tokenizer/type",
                json!("Whitespace"),
                "its pre_tokenizer is not SigLIP's Metaspace",
            ),
            (
                siglip2(),
                "/normalizer/pattern",
                json!({"Regex": " "}),
                "its normalizer is not Gemma's",
            ),
            (
                siglip2(),
                "/model/fuse_unk",
                json!(false),
                "model.fuse_unk is Some(false), expected true",
            ),
            (siglip2(), "/model/type", json!("WordLevel"), "model.type is Some(\"WordLevel\")"),
        ];
        for (mut file, pointer, value, want) in cases {
            *file.pointer_mut(pointer).unwrap() = value;
            let err = check_value(&file).unwrap_err().to_string();
            assert!(err.contains(want), "{pointer}: {err}");
            assert!(err.contains("tokenizer.json:"), "{err}");
        }
    }
}
