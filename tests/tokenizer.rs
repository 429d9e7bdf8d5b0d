//! The real CLIP `tokenizer.json` against transformers' ids for a corpus of
//! hard strings. Fixtures are made by `tools/make_tokenizer.py`.
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
