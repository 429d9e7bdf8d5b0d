//! End to end against transformers: the committed random-weight CLIPs in Hub
//! layout (`tools/make_fixtures.py`) and `CLIPModel`'s outputs computed in float64.
//!
//! Tolerances: features within 1e-4 relative (‖got − want‖ / ‖want‖) and cosine
//! >= 0.99999 — f32 kernels accumulate ~1e-6 relative rounding per layer, so
//! 1e-4 leaves room for depth without hiding a wrong formula (a wrong activation
//! or LayerNorm eps moves the features by 4.5e-4 to 7e-3 in these fixtures).
//! Probabilities within 1e-4 absolute.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use webclip::gpu::Gpu;
use webclip::model::{scores, ClipModel, ModelFiles};
use webclip::{image, npy};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A model directory: a committed fixture by name, or any path (a locally
/// generated full-size model, see `WEBCLIP_EXTRA_FIXTURE`).
fn model_dir(name: &str) -> PathBuf {
    if Path::new(name).is_absolute() { PathBuf::from(name) } else { fixture(name) }
}

fn gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| pollster::block_on(Gpu::new()).expect("a WebGPU/Vulkan adapter (lavapipe: mesa-vulkan-drivers)")).clone()
}

struct Case {
    model: ClipModel,
    dir: PathBuf,
    cases: serde_json::Value,
}

impl Case {
    fn load(name: &str) -> Case {
        let dir = model_dir(name);
        let files = ModelFiles::from_dir(&dir).unwrap();
        let model = pollster::block_on(ClipModel::load(&gpu(), &files)).unwrap();
        let cases = serde_json::from_slice(&std::fs::read(dir.join("expected/cases.json")).unwrap()).unwrap();
        Case { model, dir, cases }
    }
    fn expected(&self, file: &str) -> npy::Array {
        let path = self.dir.join("expected").join(file);
        npy::parse(&std::fs::read(&path).unwrap(), file).unwrap()
    }
    fn strings(&self, key: &str) -> Vec<String> {
        self.cases[key].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
    }
}

/// Asserts each row's relative error and cosine; returns the worst relative error.
fn assert_features(what: &str, got: &[Vec<f32>], want: &npy::Array, max_rel: f64, min_cos: f64) -> f64 {
    let want = want.rows();
    assert_eq!(got.len(), want.len(), "{what}: row count");
    let mut worst = 0.0f64;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what} {i}: width");
        let dot: f64 = g.iter().zip(w).map(|(&a, b)| a as f64 * b).sum();
        let (ng, nw) = (g.iter().map(|&a| (a as f64).powi(2)).sum::<f64>().sqrt(), w.iter().map(|b| b * b).sum::<f64>().sqrt());
        let diff = g.iter().zip(w).map(|(&a, b)| (a as f64 - b).powi(2)).sum::<f64>().sqrt();
        let (rel, cos) = (diff / nw, dot / (ng * nw));
        assert!(rel <= max_rel && cos >= min_cos, "{what} {i}: relative error {rel:.3e} (max {max_rel:.0e}), cosine {cos:.9} (min {min_cos})");
        worst = worst.max(rel);
    }
    println!("{what}: worst relative error {worst:.2e}");
    worst
}

fn check_fixture(name: &str) {
    let case = Case::load(name);
    let m = &case.model;

    // The encoder alone, on transformers' own pixel values.
    let pixels = case.expected("pixel_values.npy");
    let from_pixels = pollster::block_on(m.embed_pixels(&pixels.to_f32(), false)).unwrap();
    assert_features(&format!("{name} image features (pixel_values.npy)"), &from_pixels, &case.expected("image_features.npy"), 1e-4, 0.99999);

    // From the image files: decoding and preprocessing included. PNGs decode
    // identically to Pillow; the JPEG decoder differs by a few levels on a few
    // pixels (tests/preprocess.rs measures it), which these tiny models amplify,
    // so JPEG rows get a looser, stated bound.
    let own_images = case.dir.join("images");
    let images_dir = if own_images.is_dir() { own_images } else { fixture("images") };
    let names = case.strings("images");
    let pictures: Vec<_> = names.iter().map(|n| image::decode(&std::fs::read(images_dir.join(n)).unwrap(), n).unwrap()).collect();
    let from_files = pollster::block_on(m.embed_images(&pictures, false)).unwrap();
    let want = case.expected("image_features.npy");
    for (i, n) in names.iter().enumerate() {
        let row = npy::Array { shape: vec![1, want.shape[1]], data: want.rows()[i].clone() };
        let jpeg = n.ends_with(".jpg");
        assert_features(&format!("{name} image features ({n})"), &from_files[i..=i], &row, if jpeg { 1e-3 } else { 1e-4 }, 0.99999);
    }

    // Texts: ids exactly as transformers' tokenizer, features within tolerance.
    let texts = case.strings("texts");
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ids = m.tokenize(&refs).unwrap();
    let want_ids: Vec<Vec<u32>> = serde_json::from_value(case.cases["input_ids"].clone()).unwrap();
    assert_eq!(ids, want_ids, "{name}: token ids");
    let text_features = pollster::block_on(m.embed_texts(&refs, false)).unwrap();
    assert_features(&format!("{name} text features"), &text_features, &case.expected("text_features.npy"), 1e-4, 0.99999);

    // Zero-shot probabilities over all texts, per image.
    let probs = case.expected("probs.npy").rows();
    let mut worst = 0.0f64;
    for (i, image) in from_pixels.iter().enumerate() {
        let got = scores::zero_shot(image, &text_features, 1, m.logit_scale);
        for (g, w) in got.iter().zip(&probs[i]) {
            worst = worst.max((g - w).abs());
        }
    }
    println!("{name} probabilities: worst absolute error {worst:.2e}");
    assert!(worst <= 1e-4, "{name}: probabilities off by {worst:.3e}");
}

#[test]
fn tiny_clip_fp32_quick_gelu_matches_transformers() {
    check_fixture("tiny-clip");
}

#[test]
fn tiny_clip_fp16_gelu_matches_transformers() {
    check_fixture("tiny-clip-fp16-gelu");
}

#[test]
fn classify_matches_transformers_probabilities() {
    let case = Case::load("tiny-clip");
    let labels: Vec<String> = case.strings("texts")[..3].to_vec();
    let picture = image::decode(&std::fs::read(fixture("images/chelsea.png")).unwrap(), "chelsea.png").unwrap();
    let scores = pollster::block_on(case.model.classify(&picture, &labels, &[])).unwrap();
    // transformers' probabilities over all texts, renormalised to the first three.
    let row = &case.expected("probs.npy").rows()[0][..3];
    let total: f64 = row.iter().sum();
    for (s, w) in scores.iter().zip(row) {
        assert!((s.probability - w / total).abs() <= 1e-4, "{}: {} vs {}", s.label, s.probability, w / total);
    }
}

/// The same comparison on a model generated locally and not committed (the
/// full-size random ViT-B/32 of `tools/make_vitb32.py`):
/// `WEBCLIP_EXTRA_FIXTURE=/work/vitb32 cargo test --release --test model -- --nocapture`.
#[test]
fn extra_fixture_matches_transformers() {
    if let Ok(dir) = std::env::var("WEBCLIP_EXTRA_FIXTURE") {
        check_fixture(&dir);
    }
}
