//! The real CLIP `tokenizer.json` against transformers' ids for a corpus of
//! hard strings. Fixtures are made by `tools/make_tokenizer.py`.
//!
//! Module `siglip`: SigLIP's and SigLIP 2's tokenizers (`SigLipTokenizer`,
//! `TextTokenizer`) against transformers' ids, and the files they refuse.
#![cfg(not(target_arch = "wasm32"))]

use webclip::tokenizer::{eos_position, ClipTokenizer, CONTEXT_LENGTH, END_OF_TEXT, START_OF_TEXT};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/tokenizer/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (run tools/make_tokenizer.py)"))
}

struct Entry {
    name: String,
    text: String,
    ids: Vec<u32>,
}

fn corpus() -> Vec<Entry> {
    let doc: serde_json::Value = serde_json::from_slice(&fixture("corpus.json")).unwrap();
    doc["entries"]
        .as_array()
        .expect("corpus.json: no entries")
        .iter()
        .map(|e| Entry {
            name: e["name"].as_str().unwrap().to_owned(),
            text: e["text"].as_str().unwrap().to_owned(),
            ids: e["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect(),
        })
        .collect()
}

fn tokenizer() -> ClipTokenizer {
    ClipTokenizer::from_bytes(&fixture("tokenizer.json")).unwrap()
}

#[test]
fn corpus_matches_transformers() {
    let tok = tokenizer();
    let corpus = corpus();
    assert!(corpus.len() >= 60, "corpus has only {} strings", corpus.len());
    let mut failures = Vec::new();
    for e in &corpus {
        match tok.encode(&e.text) {
            Ok(ids) if ids == e.ids => {}
            Ok(ids) => failures.push(format!(
                "{}: text {:?}\n  transformers: {:?}\n  webclip:      {:?}",
                e.name, e.text, e.ids, ids
            )),
            Err(err) => failures.push(format!("{}: text {:?}: {err}", e.name, e.text)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus strings differ:\n{}",
        failures.len(),
        corpus.len(),
        failures.join("\n")
    );
}

#[test]
fn batch_equals_single() {
    let tok = tokenizer();
    let corpus = corpus();
    let texts: Vec<&str> = corpus.iter().map(|e| e.text.as_str()).collect();
    let batch = tok.encode_batch(&texts).unwrap();
    assert_eq!(batch.len(), corpus.len());
    for (e, ids) in corpus.iter().zip(&batch) {
        assert_eq!(ids, &e.ids, "{}", e.name);
    }
}

#[test]
fn every_encoding_is_well_formed() {
    let tok = tokenizer();
    for e in corpus() {
        let ids = tok.encode(&e.text).unwrap();
        assert!(ids.len() >= 2 && ids.len() <= CONTEXT_LENGTH, "{}: {} ids", e.name, ids.len());
        assert_eq!(ids[0], START_OF_TEXT, "{}", e.name);
        assert_eq!(*ids.last().unwrap(), END_OF_TEXT, "{}", e.name);
        let eos = eos_position(&ids);
        assert_eq!(ids[eos], END_OF_TEXT, "{}", e.name);
        assert!(ids[..eos].iter().all(|&i| i != END_OF_TEXT), "{}", e.name);
    }
}

#[test]
fn known_ids() {
    let tok = tokenizer();
    assert_eq!(tok.encode("a photo of a cat").unwrap(), [49406, 320, 1125, 539, 320, 2368, 49407]);
    assert_eq!(tok.encode("").unwrap(), [49406, 49407]);
    assert_eq!(
        tok.encode("A PHOTO  of\ta\ncat ").unwrap(),
        [49406, 320, 1125, 539, 320, 2368, 49407]
    );
}

#[test]
fn long_texts_are_cut_to_77_ids() {
    // transformers.js 4.3 does not cut at 77; make sure we do.
    let tok = tokenizer();
    let a75 = vec!["a"; 75].join(" ");
    let ids = tok.encode(&a75).unwrap();
    assert_eq!(ids.len(), 77);
    assert!(ids[1..76].iter().all(|&i| i == 320));

    for n in [76usize, 77, 100, 1000] {
        let ids = tok.encode(&vec!["a"; n].join(" ")).unwrap();
        assert_eq!(ids.len(), 77, "n = {n}");
        assert_eq!(ids[0], START_OF_TEXT);
        assert!(ids[1..76].iter().all(|&i| i == 320), "n = {n}");
        assert_eq!(ids[76], END_OF_TEXT, "n = {n}");
        assert_eq!(eos_position(&ids), 76);
    }
    // A word split across the cut keeps only its first pieces.
    let text = format!("{} supercalifragilisticexpialidocious", vec!["a"; 74].join(" "));
    let ids = tok.encode(&text).unwrap();
    assert_eq!(ids.len(), 77);
    assert_eq!(ids[76], END_OF_TEXT);
    assert_ne!(ids[75], 320);
}

#[test]
fn literal_end_of_text_is_pooled_first() {
    let tok = tokenizer();
    let ids = tok.encode("a photo<|endoftext|> of a cat").unwrap();
    assert_eq!(ids.iter().filter(|&&i| i == END_OF_TEXT).count(), 2);
    assert_eq!(eos_position(&ids), 3);
}

// ---------------------------------------------------------------------------------------
// SigLIP and SigLIP 2 (`SigLipTokenizer`): fixtures by tools/make_tokenizer_fixtures_siglip.py
// (ids of transformers' SiglipTokenizer / GemmaTokenizer) and by tools/make_siglip_fixtures.py
// (the tiny models' own tokenizers).

mod siglip {
    use serde_json::{json, Value};
    use webclip::tokenizer::siglip::{MAX_FILE_BYTES, MAX_VOCAB};
    use webclip::tokenizer::siglip_pipeline::Vocab;
    use webclip::tokenizer::{SigLipTokenizer, TextTokenizer, TokenizerKind};

    const MAX_LENGTH: usize = 64;

    fn read(path: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run tools/make_tokenizer_fixtures_siglip.py)"))
    }

    /// A fixture folder: its tokenizer.json and its cases (texts, transformers' ids).
    struct Fixture {
        name: &'static str,
        json: Vec<u8>,
        texts: Vec<String>,
        ids: Vec<Vec<u32>>,
    }

    fn fixture(name: &'static str, cases: &str) -> Fixture {
        let doc: Value = serde_json::from_slice(&read(&format!("{name}/{cases}"))).unwrap();
        let texts = doc["texts"].as_array().expect("cases: no texts");
        let ids = doc["input_ids"].as_array().expect("cases: no input_ids");
        assert_eq!(texts.len(), ids.len(), "{name}");
        Fixture {
            name,
            json: read(&format!("{name}/tokenizer.json")),
            texts: texts.iter().map(|t| t.as_str().unwrap().to_owned()).collect(),
            ids: ids
                .iter()
                .map(|row| {
                    row.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect()
                })
                .collect(),
        }
    }

    fn siglip() -> Fixture {
        fixture("tokenizer-siglip", "cases.json")
    }

    fn siglip2() -> Fixture {
        fixture("tokenizer-siglip2", "cases.json")
    }

    fn all() -> Vec<Fixture> {
        vec![siglip(), siglip2()]
    }

    fn load(json: &[u8]) -> SigLipTokenizer {
        SigLipTokenizer::from_bytes(json, MAX_LENGTH).unwrap()
    }

    /// Every text's ids against transformers', all differences listed.
    fn assert_matches(f: &Fixture, tok: &SigLipTokenizer, what: &str) {
        let mut failures = Vec::new();
        for (text, want) in f.texts.iter().zip(&f.ids) {
            match tok.encode(text) {
                Ok(ids) if &ids == want => {}
                Ok(ids) => failures.push(format!(
                    "text {text:?}\n  transformers: {want:?}\n  webclip:      {ids:?}"
                )),
                Err(e) => failures.push(format!("text {text:?}: {e}")),
            }
        }
        assert!(
            failures.is_empty(),
            "{} ({what}): {} of {} texts differ:\n{}",
            f.name,
            failures.len(),
            f.texts.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn ids_match_transformers() {
        for f in all() {
            assert!(f.texts.len() >= 30, "{}: only {} texts", f.name, f.texts.len());
            assert_matches(&f, &load(&f.json), "as generated");
        }
    }

    /// The tiny models' fixtures (tools/make_siglip_fixtures.py): ids, and whether
    /// each text was cut, as transformers gave them.
    #[test]
    fn tiny_model_fixtures_match_transformers() {
        for name in ["tiny-siglip", "tiny-siglip2"] {
            let f = fixture(name, "expected/cases.json");
            let tok = load(&f.json);
            assert_matches(&f, &tok, "as generated");
            let doc: Value =
                serde_json::from_slice(&read(&format!("{name}/expected/cases.json"))).unwrap();
            assert_eq!(u64::from(tok.pad_id()), doc["pad_token_id"].as_u64().unwrap(), "{name}");
            assert_eq!(u64::from(tok.eos_id()), doc["eos_token_id"].as_u64().unwrap(), "{name}");
            let cut: Vec<bool> =
                doc["truncated"].as_array().unwrap().iter().map(|b| b.as_bool().unwrap()).collect();
            assert!(cut.contains(&true) && cut.contains(&false), "{name}: {cut:?}");
            for (text, want) in f.texts.iter().zip(cut) {
                assert_eq!(tok.truncates(text).unwrap(), want, "{name}: {text:?}");
            }
        }
    }

    #[test]
    fn vocabularies_and_special_ids() {
        let t = load(&siglip().json);
        assert_eq!((t.vocab(), t.eos_id(), t.pad_id()), (Vocab::SentencePieceUnigram, 1, 1));
        let t = load(&siglip2().json);
        assert_eq!((t.vocab(), t.eos_id(), t.pad_id()), (Vocab::GemmaBpe, 1, 0));
        assert_eq!(t.max_length(), MAX_LENGTH);
    }

    /// Every encoding: 64 ids, the text's tokens, eos, then only padding.
    #[test]
    fn every_encoding_is_well_formed() {
        for f in all() {
            let tok = load(&f.json);
            for text in &f.texts {
                let ids = tok.encode(text).unwrap();
                assert_eq!(ids.len(), MAX_LENGTH, "{}: {text:?}", f.name);
                // The eos appended: the last id before the padding (SigLIP pads with
                // its eos id, so there the whole tail is eos).
                let end = ids.iter().rposition(|&i| i != tok.pad_id()).map_or(0, |i| i + 1);
                if tok.pad_id() != tok.eos_id() {
                    assert_eq!(ids[end - 1], tok.eos_id(), "{}: {text:?}", f.name);
                }
                assert!(ids[end..].iter().all(|&i| i == tok.pad_id()), "{}: {text:?}", f.name);
            }
        }
    }

    #[test]
    fn batch_equals_single() {
        for f in all() {
            let tok = load(&f.json);
            let texts: Vec<&str> = f.texts.iter().map(String::as_str).collect();
            assert_eq!(tok.encode_batch(&texts).unwrap(), f.ids, "{}", f.name);
            assert!(tok.encode_batch(&[]).unwrap().is_empty());
        }
    }

    /// Truncation keeps the first 63 tokens and the eos as the 64th id; `truncates`
    /// says exactly when tokens were dropped (checked against an uncut encoding).
    #[test]
    fn long_texts_keep_eos_last() {
        for f in all() {
            let tok = load(&f.json);
            let uncut = SigLipTokenizer::from_bytes(&f.json, 4096).unwrap();
            let mut texts: Vec<String> = (55..70).map(|n| vec!["cat"; n].join(" ")).collect();
            texts.push("x".repeat(10_000));
            texts.extend(f.texts.iter().cloned());
            let (mut cut, mut kept) = (0, 0);
            for text in &texts {
                let ids = tok.encode(text).unwrap();
                let all = uncut.encode(text).unwrap();
                let n = all.iter().position(|&i| i == tok.eos_id()).unwrap();
                let truncated = tok.truncates(text).unwrap();
                assert_eq!(truncated, n > MAX_LENGTH - 1, "{}: {text:?}", f.name);
                if truncated {
                    cut += 1;
                    assert_eq!(
                        ids[..MAX_LENGTH - 1],
                        all[..MAX_LENGTH - 1],
                        "{}: {text:?}",
                        f.name
                    );
                    assert_eq!(ids[MAX_LENGTH - 1], tok.eos_id(), "{}: {text:?}", f.name);
                } else {
                    kept += 1;
                    assert_eq!(ids[..], all[..MAX_LENGTH], "{}: {text:?}", f.name);
                }
            }
            assert!(cut >= 3 && kept >= 3, "{}: {cut} cut, {kept} kept", f.name);
        }
    }

    /// The text is lowercased, unpunctuated and whitespace-collapsed for SigLIP
    /// (transformers' Python-side canonicalize_text), left as it is for SigLIP 2.
    #[test]
    fn canonicalization_is_siglip_only() {
        let t = load(&siglip().json);
        assert_eq!(
            t.encode("  A Photo, of a CAT!! ").unwrap(),
            t.encode("a photo of a cat").unwrap()
        );
        let t = load(&siglip2().json);
        assert_ne!(t.encode("A Photo Of A CAT").unwrap(), t.encode("a photo of a cat").unwrap());
        assert_ne!(t.encode("a photo of a cat.").unwrap(), t.encode("a photo of a cat").unwrap());
    }

    /// Run as the file alone says (no canonicalization), SigLIP's ids would differ from
    /// transformers' on the cased and punctuated texts: the Rust-side step is needed.
    #[test]
    fn the_file_alone_is_not_transformers() {
        let f = siglip();
        let raw = tokenizers::Tokenizer::from_bytes(&f.json).unwrap();
        let differ = f
            .texts
            .iter()
            .zip(&f.ids)
            .filter(|(text, want)| {
                let ids = raw.encode(text.as_str(), true).unwrap().get_ids().to_vec();
                ids.len() > MAX_LENGTH || ids[..] != want[..ids.len()]
            })
            .count();
        assert!(differ >= 5, "only {differ} texts differ without canonicalization");
    }

    /// A change made to a parsed tokenizer.json.
    type Edit = dyn Fn(&mut Value);

    /// The other layouts accepted for SigLIP's file give the same ids: the newer
    /// SentencePiece converters' space handling, a SigLIP converter's canonicalization
    /// steps in the file (no-ops after webclip's), a pre-0.14 Metaspace.
    #[test]
    fn accepted_siglip_layouts_agree() {
        let f = siglip();
        let base: Value = serde_json::from_slice(&f.json).unwrap();
        let variants: [(&str, Box<Edit>); 4] = [
            (
                "newer space handling",
                Box::new(|v| {
                    let n = v["normalizer"]["normalizers"].as_array_mut().unwrap();
                    n.truncate(1);
                    n.push(json!({"type": "Strip", "strip_left": false, "strip_right": true}));
                    n.push(
                        json!({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"}),
                    );
                }),
            ),
            (
                "canonicalization in the file",
                Box::new(|v| {
                    let n = v["normalizer"]["normalizers"].as_array_mut().unwrap();
                    let steps = [
                        json!({"type": "Lowercase"}),
                        json!({"type": "Replace", "pattern": {"Regex": webclip::tokenizer::siglip_pipeline::SIGLIP_PUNCTUATION[0]}, "content": ""}),
                        json!({"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}),
                        json!({"type": "Strip", "strip_left": true, "strip_right": true}),
                    ];
                    for (i, s) in steps.into_iter().enumerate() {
                        n.insert(i, s);
                    }
                }),
            ),
            (
                "legacy Metaspace",
                Box::new(|v| {
                    v["pre_tokenizer"] = json!({"type": "Metaspace", "replacement": "▁",
                                                "add_prefix_space": true, "str_rep": "▁"})
                }),
            ),
            (
                "lstrip/rstrip specials, no decoder",
                Box::new(|v| {
                    for t in v["added_tokens"].as_array_mut().unwrap() {
                        t["lstrip"] = json!(true);
                        t["rstrip"] = json!(true);
                    }
                    v["decoder"] = Value::Null;
                }),
            ),
        ];
        for (what, change) in variants {
            let mut v = base.clone();
            change(&mut v);
            let tok = SigLipTokenizer::from_bytes(v.to_string().as_bytes(), MAX_LENGTH)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_matches(&f, &tok, what);
        }
    }

    #[test]
    fn text_tokenizer_chooses_by_kind() {
        let kind = TokenizerKind::for_model_type("siglip", 64).unwrap();
        assert_eq!(kind, TokenizerKind::SigLip { max_length: 64 });
        assert_eq!(TokenizerKind::for_model_type("clip", 77).unwrap(), TokenizerKind::Clip);
        let e = TokenizerKind::for_model_type("siglip2", 64).unwrap_err().to_string();
        assert!(e.contains("\"siglip2\""), "{e}");

        for f in all() {
            let tok = TextTokenizer::from_bytes(&f.json, kind).unwrap();
            assert_eq!((tok.kind(), tok.context_length()), (kind, 64));
            let texts: Vec<&str> = f.texts.iter().map(String::as_str).collect();
            assert_eq!(tok.encode_batch(&texts).unwrap(), f.ids);
            assert!(tok.truncates(&"cat ".repeat(100)).unwrap());
            // A SigLIP file is not CLIP's.
            let e =
                TextTokenizer::from_bytes(&f.json, TokenizerKind::Clip).unwrap_err().to_string();
            assert!(e.contains("normalizer is not CLIP's"), "{e}");
        }
        // And CLIP's is not SigLIP's.
        let clip = read("tokenizer/tokenizer.json");
        let e = TextTokenizer::from_bytes(&clip, kind).unwrap_err().to_string();
        assert!(e.contains("model.byte_fallback"), "{e}");
        let tok = TextTokenizer::from_bytes(&clip, TokenizerKind::Clip).unwrap();
        assert_eq!(
            tok.encode("a photo of a cat").unwrap(),
            [49406, 320, 1125, 539, 320, 2368, 49407]
        );
        assert_eq!(tok.context_length(), 77);
    }

    /// `json` with one change at a JSON pointer, refused with a message containing `want`.
    fn assert_refused(f: &Fixture, pointer: &str, value: Value, want: &str) {
        let mut v: Value = serde_json::from_slice(&f.json).unwrap();
        *v.pointer_mut(pointer).unwrap_or_else(|| panic!("{}: no {pointer}", f.name)) = value;
        let e = SigLipTokenizer::from_bytes(v.to_string().as_bytes(), MAX_LENGTH)
            .expect_err(&format!("{}: {pointer} accepted", f.name))
            .to_string();
        assert!(e.contains(want), "{}: {pointer}: {e}", f.name);
        assert!(e.starts_with("tokenizer: "), "{e}");
    }

    #[test]
    fn refuses_unknown_pipelines_naming_them() {
        let (s1, s2) = (siglip(), siglip2());
        // Patterns that are not the known ones never reach the regex engine.
        assert_refused(
            &s1,
            "/normalizer/normalizers/1/pattern/Regex",
            json!("( |  )+$"),
            "its normalizer is not SigLIP's",
        );
        assert_refused(
            &s1,
            "/normalizer",
            json!({"type": "BertNormalizer"}),
            "its normalizer is not SigLIP's",
        );
        assert_refused(
            &s1,
            "/pre_tokenizer",
            json!({"type": "Split", "pattern": {"Regex": "(a|a)+$"}, "behavior": "Isolated", "invert": false}),
            "its pre_tokenizer is not SigLIP's Metaspace",
        );
        for scheme in ["never", "first"] {
            // "first" would lose the "▁" of a label whose leading spaces are removed.
            assert_refused(
                &s1,
                "/pre_tokenizer/prepend_scheme",
                json!(scheme),
                "its pre_tokenizer is not SigLIP's Metaspace",
            );
        }
        assert_refused(
            &s1,
            "/decoder",
            json!({"type": "ByteLevel"}),
            "its decoder is not SigLIP's",
        );
        assert_refused(&s1, "/model/type", json!("WordPiece"), "model.type is Some(\"WordPiece\")");
        assert_refused(
            &s2,
            "/normalizer",
            json!({"type": "Sequence", "normalizers": [
            {"type": "Lowercase"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}),
            "its normalizer is not Gemma's",
        );
        assert_refused(
            &s2,
            "/pre_tokenizer",
            json!({"type": "Split", "pattern": {"Regex": "(a|a)+$"}, "behavior": "MergedWithPrevious", "invert": false}),
            "its pre_tokenizer is not Gemma's",
        );
        assert_refused(
            &s2,
            "/model/byte_fallback",
            json!(false),
            "model.byte_fallback is Some(false), expected true",
        );
        assert_refused(&s2, "/model/ignore_merges", json!(true), "model.ignore_merges");
        assert_refused(&s2, "/decoder", json!({"type": "Fuse"}), "its decoder is not Gemma's");
        // Every text must end with the eos, added by the post-processor.
        for f in [&s1, &s2] {
            assert_refused(
                f,
                "/post_processor",
                Value::Null,
                "its post_processor is not TemplateProcessing",
            );
            assert_refused(
                f,
                "/post_processor/single/1/SpecialToken/id",
                json!("<bos>"),
                "its post_processor is not TemplateProcessing",
            );
        }
        assert_refused(
            &s1,
            "/post_processor/special_tokens/<~1s>/ids/0",
            json!(2),
            "the empty text encodes to [2]",
        );
    }

    /// `json` with `token` taken out of the vocabulary and the added tokens.
    fn without_token(f: &Fixture, token: &str) -> Vec<u8> {
        let mut v: Value = serde_json::from_slice(&f.json).unwrap();
        v["added_tokens"].as_array_mut().unwrap().retain(|t| t["content"] != token);
        match &mut v["model"]["vocab"] {
            Value::Object(map) => {
                map.remove(token);
            }
            Value::Array(pieces) => {
                for p in pieces.iter_mut().filter(|p| p[0] == token) {
                    p[0] = json!(format!("{token}-renamed"));
                }
            }
            _ => unreachable!(),
        }
        v.to_string().into_bytes()
    }

    #[test]
    fn refuses_missing_special_tokens() {
        let e = SigLipTokenizer::from_bytes(&without_token(&siglip2(), "<pad>"), MAX_LENGTH)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no <pad> token (the padding token of SigLIP 2's Gemma vocabulary)"),
            "{e}"
        );
        let e = SigLipTokenizer::from_bytes(&without_token(&siglip2(), "<0x41>"), MAX_LENGTH)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no <0x41> token (the byte-fallback token"), "{e}");
        let e = SigLipTokenizer::from_bytes(&without_token(&siglip(), "</s>"), MAX_LENGTH)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no </s> token"), "{e}");
    }

    #[test]
    fn refuses_files_too_large_and_bad_lengths() {
        // Valid JSON, padded past the cap with trailing spaces: refused before parsing.
        let mut big = siglip2().json;
        big.resize(MAX_FILE_BYTES + 1, b' ');
        let e = SigLipTokenizer::from_bytes(&big, MAX_LENGTH).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "has {} bytes, more than the {MAX_FILE_BYTES}",
                MAX_FILE_BYTES + 1
            )),
            "{e}"
        );
        big.truncate(MAX_FILE_BYTES);
        SigLipTokenizer::from_bytes(&big, MAX_LENGTH).unwrap();

        // A vocabulary past the cap.
        let mut v: Value = serde_json::from_slice(&siglip().json).unwrap();
        let pieces = v["model"]["vocab"].as_array_mut().unwrap();
        for i in pieces.len()..=MAX_VOCAB {
            pieces.push(json!([format!("filler{i}"), -20.0]));
        }
        let e = SigLipTokenizer::from_bytes(v.to_string().as_bytes(), MAX_LENGTH)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("has {} tokens, more than the {MAX_VOCAB}", MAX_VOCAB + 1)),
            "{e}"
        );

        for bad in [0, 1, 5000] {
            let e = SigLipTokenizer::from_bytes(&siglip().json, bad).unwrap_err().to_string();
            assert!(e.contains(&format!("max_length {bad} is not in 2..=")), "{e}");
        }
        let e = SigLipTokenizer::from_bytes(b"not json", MAX_LENGTH).unwrap_err().to_string();
        assert!(e.contains("cannot parse tokenizer.json"), "{e}");
    }

    /// Other lengths than 64 work the same way.
    #[test]
    fn other_max_lengths() {
        for f in all() {
            let tok = SigLipTokenizer::from_bytes(&f.json, 8).unwrap();
            for (text, want) in f.texts.iter().zip(&f.ids) {
                let ids = tok.encode(text).unwrap();
                assert_eq!(ids.len(), 8);
                let n = want.iter().position(|&i| i == tok.eos_id()).unwrap();
                if n < 8 {
                    assert_eq!(ids[..], want[..8], "{}: {text:?}", f.name);
                } else {
                    assert_eq!(
                        (&ids[..7], ids[7]),
                        (&want[..7], tok.eos_id()),
                        "{}: {text:?}",
                        f.name
                    );
                }
            }
        }
    }
}
