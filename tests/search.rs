//! Photo search through the `webclip` binary (issue 19) on the committed folder
//! `tests/fixtures/search-photos/` (`tools/make_search_folder.py`): one drawn
//! picture per colour and shape of the demo model's vocabulary, planted
//! near-duplicates, a text file and a broken JPEG. What each picture shows and
//! which copies were planted is how the folder was drawn
//! (`search-photos.json`), not anything the model said.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod cli_support;
use cli_support::*;

const DEMO_MODEL: &str = "www/models/demo/model-q4.webclip";

struct Expected {
    /// Path in the folder -> "colour shape".
    pictures: BTreeMap<String, String>,
    /// (original, copy, kind).
    pairs: Vec<(String, String, String)>,
    skipped: Vec<String>,
}

fn expected() -> Expected {
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("search-photos.json")).unwrap()).unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
    };
    Expected {
        pictures: json["pictures"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect(),
        pairs: json["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let p = strings(p);
                (p[0].clone(), p[1].clone(), p[2].clone())
            })
            .collect(),
        skipped: strings(&json["skipped"]),
    }
}

fn temp(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("webclip-search-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &to.join(item.file_name()));
        } else {
            std::fs::copy(item.path(), to.join(item.file_name())).unwrap();
        }
    }
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn model() -> String {
    root().join(DEMO_MODEL).display().to_string()
}

/// Indexes `dir` into `index`; the `--json` summary.
fn index(dir: &Path, index: &Path) -> serde_json::Value {
    let (code, out, err) = webclip(&[
        "index",
        "--json",
        "--model",
        &model(),
        &dir.display().to_string(),
        "-o",
        &index.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    json(&out)
}

fn search(index: &Path, words: &str, top: &str) -> Vec<(String, f64)> {
    let (code, out, err) = webclip(&[
        "search",
        "--json",
        "--index",
        &index.display().to_string(),
        words,
        "--top",
        top,
    ]);
    assert_eq!(code, 0, "{err}");
    json(&out)["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["path"].as_str().unwrap().to_string(), r["score"].as_f64().unwrap()))
        .collect()
}

#[test]
fn words_find_the_drawn_shape_and_copies_group() {
    let want = expected();
    let dir = temp("find");
    let file = dir.join("photos.webclip-index");
    let summary = index(Path::new(&fixture("search-photos")), &file);
    assert_eq!(summary["pictures"], want.pictures.len());
    assert_eq!(summary["embedded"], want.pictures.len());
    let skipped: Vec<&str> = summary["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, want.skipped);
    for s in summary["skipped"].as_array().unwrap() {
        assert!(s["reason"].as_str().unwrap().contains(s["path"].as_str().unwrap()), "{s}");
    }

    // Every colour-shape pair of the vocabulary, asked in words: is a picture of it first?
    let mut labels: Vec<&String> = want.pictures.values().collect();
    labels.sort();
    labels.dedup();
    let mut right = 0;
    let mut wrong = Vec::new();
    for label in &labels {
        let top = search(&file, &format!("a {label}"), "1");
        if want.pictures[&top[0].0] == **label {
            right += 1;
        } else {
            wrong.push(format!("{label}: {} ({:.3})", top[0].0, top[0].1));
        }
    }
    let precision = right as f64 / labels.len() as f64;
    println!("first result right for {right} of {} queries; wrong: {wrong:?}", labels.len());
    assert!(precision >= 0.75, "{:.1}%: {wrong:?}", 100.0 * precision);

    // Near-duplicates at the default threshold.
    let (code, out, err) =
        webclip(&["duplicates", "--json", "--index", &file.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let groups: Vec<Vec<String>> = serde_json::from_value(json(&out)["groups"].clone()).unwrap();
    let grouped = |a: &String, b: &String| groups.iter().any(|g| g.contains(a) && g.contains(b));
    let found = want.pairs.iter().filter(|(a, b, _)| grouped(a, b)).count();
    println!("{found} of {} planted pairs grouped; groups: {groups:?}", want.pairs.len());
    assert!(found as f64 >= 0.8 * want.pairs.len() as f64, "{groups:?}");
    for g in &groups {
        // A group holds one drawing and its copies: every member shows the same colour and shape.
        let shown: Vec<&String> = g.iter().map(|p| &want.pictures[p]).collect();
        assert!(shown.iter().all(|s| *s == shown[0]), "unrelated pictures grouped: {g:?}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn reindexing_embeds_only_what_changed() {
    let dir = temp("update");
    let photos = dir.join("photos");
    copy_dir(Path::new(&fixture("search-photos")), &photos);
    let file = dir.join("photos.webclip-index");
    let first = index(&photos, &file);
    let n = first["pictures"].as_u64().unwrap();
    // Unchanged: nothing embedded.
    let again = index(&photos, &file);
    assert_eq!(
        (&again["embedded"], &again["kept"], &again["dropped"]),
        (&0.into(), &n.into(), &0.into())
    );
    // One changed (another picture's bytes), one deleted, one new.
    std::fs::copy(photos.join("stars/red-star.png"), photos.join("circles/red-circle.png"))
        .unwrap();
    std::fs::remove_file(photos.join("squares/blue-square.png")).unwrap();
    std::fs::copy(photos.join("stars/blue-star.png"), photos.join("new-blue-star.png")).unwrap();
    let update = index(&photos, &file);
    assert_eq!(update["embedded"], 2, "{update}");
    assert_eq!(update["kept"], n - 2);
    assert_eq!(update["dropped"], 1);
    assert_eq!(update["pictures"], n);
    // The changed file is found as what it now shows.
    let top = search(&file, "a red star", "3");
    assert!(top.iter().any(|(p, _)| p == "circles/red-circle.png"), "{top:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_index_refuses_other_weights_and_broken_files() {
    let dir = temp("refuse");
    let file = dir.join("photos.webclip-index");
    index(Path::new(&fixture("search-photos")), &file);
    let path = file.display().to_string();
    // The tiny fixture model has other weights (and another width).
    expect_error(
        &["search", "--index", &path, "a red star", "--model", &fixture("tiny-clip")],
        "cannot be compared",
    );
    expect_error(&["search", "--index", &path], "nothing to search for");
    // An index whose model moved: it says which, and how to go on.
    let moved = dir.join("moved.webclip");
    std::fs::copy(model(), &moved).unwrap();
    let elsewhere = dir.join("elsewhere.webclip-index");
    let (code, _, err) = webclip(&[
        "index",
        "--model",
        &moved.display().to_string(),
        &fixture("search-photos/stars"),
        "-o",
        &elsewhere.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    std::fs::remove_file(&moved).unwrap();
    let elsewhere = elsewhere.display().to_string();
    expect_error(
        &["search", "--index", &elsewhere, "a red star"],
        "moved.webclip cannot be opened",
    );
    expect_error(
        &["search", "--index", &elsewhere, "a red star", "--model", &fixture("tiny-clip")],
        "cannot be compared",
    );
    let (code, out, err) =
        webclip(&["search", "--json", "--index", &elsewhere, "a red star", "--model", &model()]);
    assert_eq!(code, 0, "the same weights elsewhere: {err}");
    assert_eq!(json(&out)["results"][0]["path"], "red-star.png");
    expect_error(
        &["duplicates", "--index", &path, "--threshold", "1.5"],
        "a duplicate threshold of 1.5",
    );
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.join("cut.webclip-index");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    expect_error(
        &["duplicates", "--index", &cut.display().to_string()],
        "not a usable webclip index",
    );
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "no pictures").unwrap();
    expect_error(
        &[
            "index",
            "--model",
            &model(),
            &empty.display().to_string(),
            "-o",
            &dir.join("e").display().to_string(),
        ],
        "no picture in",
    );
    std::fs::remove_dir_all(dir).ok();
}

/// What int8 codes cost ranking, against the f32 embeddings they were made from
/// (cosines in f64), on the folder's pictures and every vocabulary query; and
/// how far planted copies and different drawings lie from each other, the
/// figures `DEFAULT_THRESHOLD` was chosen from.
#[test]
fn int8_codes_rank_as_float_embeddings_do() {
    use webclip::search::{Entry, IndexInfo, ModelRef, SearchIndex};
    let want = expected();
    let (file, _) = webclip::model::files::open_path(&root().join(DEMO_MODEL)).unwrap();
    let source = pollster::block_on(webclip::model::ModelSource::open(&file, None)).unwrap();
    let runtime =
        pollster::block_on(webclip::model::Runtime::new(webclip::model::EngineChoice::Cpu, None))
            .unwrap();
    let model = pollster::block_on(runtime.load(source, None)).unwrap();
    let paths: Vec<&String> = want.pictures.keys().collect();
    let pictures: Vec<_> = paths
        .iter()
        .map(|p| {
            let bytes = std::fs::read(Path::new(&fixture("search-photos")).join(p)).unwrap();
            webclip::image::decode(&bytes, p).unwrap()
        })
        .collect();
    let features = pollster::block_on(model.embed_images(&pictures)).unwrap().raw();
    let info = IndexInfo {
        model: ModelRef { name: DEMO_MODEL.into(), sha256: "0".repeat(64) },
        root: "search-photos".into(),
        template: "a photo of {}".into(),
    };
    let mut ix = SearchIndex::new(info, model.config.projection_dim).unwrap();
    for (p, f) in paths.iter().zip(&features) {
        ix.insert(Entry { path: p.to_string(), size: 0, modified: 0.0 }, f).unwrap();
    }
    let unit = |v: &[f32]| -> Vec<f64> {
        let n = v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
        v.iter().map(|&x| x as f64 / n).collect()
    };
    let cos = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let exact: Vec<Vec<f64>> = features.iter().map(|f| unit(f)).collect();

    let mut labels: Vec<&String> = want.pictures.values().collect();
    labels.sort();
    labels.dedup();
    let prompts: Vec<String> = labels.iter().map(|l| format!("a photo of a {l}")).collect();
    let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
    let texts = pollster::block_on(model.embed_texts(&refs)).unwrap().raw();
    let (mut worst, mut same_first) = (0f64, 0);
    for text in &texts {
        let q = unit(text);
        let q32: Vec<f32> = q.iter().map(|&x| x as f32).collect();
        let hits = ix.rank(&q32, paths.len(), "").unwrap();
        for h in &hits {
            worst = worst.max((h.score as f64 - cos(&exact[h.index], &q)).abs());
        }
        let best = (0..paths.len())
            .max_by(|&a, &b| cos(&exact[a], &q).total_cmp(&cos(&exact[b], &q)))
            .unwrap();
        // Copies tie with their originals: the first result must show the same drawing.
        same_first +=
            usize::from(want.pictures[paths[hits[0].index]] == want.pictures[paths[best]]);
    }
    let planted: Vec<f64> = want
        .pairs
        .iter()
        .map(|(a, b, _)| {
            let (i, j) = (
                paths.iter().position(|p| *p == a).unwrap(),
                paths.iter().position(|p| *p == b).unwrap(),
            );
            cos(&exact[i], &exact[j])
        })
        .collect();
    let mut unrelated = 0f64;
    for i in 0..paths.len() {
        for j in i + 1..paths.len() {
            if want.pictures[paths[i]] != want.pictures[paths[j]] {
                unrelated = unrelated.max(cos(&exact[i], &exact[j]));
            }
        }
    }
    let min_planted = planted.iter().cloned().fold(1.0, f64::min);
    println!(
        "dim {}: int8 score error at most {worst:.2e}; same first result for {same_first} of {} queries; \
         planted copies' cosine >= {min_planted:.4}, different drawings' <= {unrelated:.4}",
        ix.dim(),
        texts.len()
    );
    assert_eq!(same_first, texts.len());
    // 10x the 1.9e-3 measured (128 values; at most √128 · max|x| / 254 ≈ 1.3e-2 in theory).
    assert!(worst < 2e-2, "{worst}");
    assert!(min_planted >= webclip::search::DEFAULT_THRESHOLD as f64);
    assert!(unrelated < webclip::search::DEFAULT_THRESHOLD as f64);
}
