//! SigLIP's text canonicalization, which transformers runs in Python and no
//! `tokenizer.json` carries.
//!
//! transformers' `SiglipTokenizer` (the only SigLIP tokenizer it has: there is no fast
//! one) calls `canonicalize_text` on every piece of text between special tokens before
//! SentencePiece sees it, after `tokenize` has turned each `"▁"` into a space:
//!
//! ```python
//! text = text.lower()                                                 # str.lower
//! text = text.translate(str.maketrans("", "", string.punctuation))    # ASCII only
//! text = re.sub(r"\s+", " ", text)                                    # str.isspace runs
//! text = text.strip()
//! ```
//!
//! (big_vision's `prompt_engineering.canonicalize_text`, which SigLIP was trained with.)
//! [`Canonicalize`] is that as a `tokenizers` normalizer placed in front of the file's
//! own, so it runs exactly where the Python does: on each stretch of text between the
//! special tokens (`</s>` typed in a label stays a special token), before
//! SentencePiece's NFKC. Python's semantics are kept where Rust's differ: `str.lower`
//! turns a word-final `Σ` into `ς` (so does Rust's `str::to_lowercase`, not
//! `char::to_lowercase`), and `\s` includes U+001C..U+001F, which Rust's
//! `char::is_whitespace` does not.

use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::{NormalizedString, Normalizer};

/// Python's `string.punctuation`: the 32 ASCII punctuation characters.
fn is_python_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// Python's `str.isspace()` (and so `re`'s `\s` on `str`): Unicode White_Space plus
/// the four information separators U+001C..U+001F.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// SigLIP's canonical form of `text`, each output character tagged with the index (in
/// chars) of the input character it comes from; indices never decrease.
fn canonical_chars(text: &str) -> Vec<(usize, char)> {
    // `SiglipTokenizer.tokenize` replaces "▁" by " " before anything else.
    let spaced: String = text.chars().map(|c| if c == '▁' { ' ' } else { c }).collect();
    // Whole-string lowering applies the final-sigma rule; per char it keeps the
    // expansion lengths of `char::to_lowercase`, so the two can be walked together.
    let lower = spaced.to_lowercase();
    let mut lower_chars = lower.chars();
    let mut kept = Vec::with_capacity(spaced.len());
    for (i, c) in spaced.chars().enumerate() {
        for _ in 0..c.to_lowercase().count() {
            let l = lower_chars.next().expect("lowercase expansion lengths agree");
            if !is_python_punctuation(l) {
                kept.push((i, l));
            }
        }
    }
    // Runs of whitespace become one space (tagged with the run's first char), then
    // the ends are stripped.
    let mut out: Vec<(usize, char)> = Vec::with_capacity(kept.len());
    for (i, c) in kept {
        if is_python_space(c) {
            if out.last().is_some_and(|&(_, p)| p == ' ') {
                continue;
            }
            out.push((i, ' '));
        } else {
            out.push((i, c));
        }
    }
    while out.last().is_some_and(|&(_, c)| c == ' ') {
        out.pop();
    }
    let lead = out.iter().take_while(|&&(_, c)| c == ' ').count();
    out.drain(..lead);
    out
}

/// `canonicalize_text` of transformers' `SiglipTokenizer` (lowercasing on), after its
/// `"▁"` to space replacement.
pub fn canonicalize_text(text: &str) -> String {
    canonical_chars(text).into_iter().map(|(_, c)| c).collect()
}

/// A normalizer running SigLIP's canonicalization, then the file's own normalizer.
#[derive(Clone, Debug)]
pub struct Canonicalize {
    /// The `tokenizer.json`'s normalizer, run on the canonical text.
    pub then: Option<NormalizerWrapper>,
}

impl Normalizer for Canonicalize {
    fn normalize(&self, normalized: &mut NormalizedString) -> tokenizers::Result<()> {
        let chars = canonical_chars(normalized.get());
        let n = normalized.get().chars().count();
        // `transform` takes each new char with its change: 0 replaces the next input
        // char, 1 is inserted, -k also drops the k input chars after it. Input chars
        // dropped before the first output are dropped by that output too, so that the
        // text still starts at its input's offset 0: Metaspace's "first" prepend scheme
        // (see `SigLipTokenizer`) tells the start of a text by that offset.
        let mut dest: Vec<(char, isize)> = Vec::with_capacity(chars.len());
        let mut dropped_at_start = 0;
        let mut next = chars.iter().peekable();
        for i in 0..n {
            let mut first = true;
            while let Some(&(_, c)) = next.next_if(|&&(from, _)| from == i) {
                let change = match (first, dest.is_empty()) {
                    (true, true) => -dropped_at_start,
                    (true, false) => 0,
                    (false, _) => 1,
                };
                dest.push((c, change));
                first = false;
            }
            if first {
                match dest.last_mut() {
                    Some((_, change)) => *change -= 1,
                    None => dropped_at_start += 1,
                }
            }
        }
        let initial_offset = if dest.is_empty() { n } else { 0 };
        normalized.transform(dest, initial_offset);
        if let Some(then) = &self.then {
            then.normalize(normalized)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_python() {
        // Expected values from CPython 3.11's canonicalize_text.
        let cases = [
            ("A Photo, of a CAT!", "a photo of a cat"),
            ("  a \t\n b  ", "a b"),
            ("a , b", "a b"),
            ("!!!", ""),
            ("", ""),
            ("a\u{1c}b\u{3000}c\u{a0}d", "a b c d"),
            ("▁a▁▁b", "a b"),
            ("ΟΔΟΣ ΟΔΟΣ.", "οδος οδος"),
            ("İ", "i\u{307}"),
            ("ＡＢＣ！", "ａｂｃ！"),
            ("don't", "dont"),
            ("a\u{200b}b", "a\u{200b}b"),
        ];
        for (text, want) in cases {
            assert_eq!(canonicalize_text(text), want, "{text:?}");
        }
    }

    #[test]
    fn normalizer_matches_the_function_and_keeps_alignments() {
        for text in ["  A, B!  c ", "!x", "x!", "ΟΔΟΣ", "İİ a", "", "...", "a\u{1f}\u{1f}b"] {
            let mut n = NormalizedString::from(text);
            Canonicalize { then: None }.normalize(&mut n).unwrap();
            assert_eq!(n.get(), canonicalize_text(text), "{text:?}");
            // Every normalized char maps back into the original.
            for (i, _) in n.get().char_indices() {
                assert!(n
                    .convert_offsets(tokenizers::normalizer::Range::Normalized(i..i + 1))
                    .is_some());
            }
            // The text still starts where its input does (see `normalize`).
            if !n.get().is_empty() {
                assert_eq!(n.offsets_original().0, 0, "{text:?}");
            }
        }
    }
}
