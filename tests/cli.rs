//! The `webclip` binary: outputs against transformers' fixtures, and one clear
//! line plus a non-zero exit for each kind of bad input (never a panic).
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::process::Command;

use safetensors::tensor::TensorView;
use safetensors::SafeTensors;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(rel: &str) -> String {
    root().join("tests/fixtures").join(rel).display().to_string()
}

/// Runs the CLI; returns (exit code, stdout, the last stderr line). Drivers may
/// print their own notices to stderr first; ours is the last line.
fn webclip(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_webclip")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().filter(|l| !l.trim().is_empty()).last().unwrap_or("").to_string();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), last)
}

fn expect_error(args: &[&str], needle: &str) {
    let (code, _, err) = webclip(args);
    assert_eq!(code, 1, "{args:?} should fail; stderr: {err}");
    assert!(err.starts_with("webclip: ") && err.contains(needle), "{args:?}: expected an error containing {needle:?}, got {err:?}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A copy of the tiny fixture model in a fresh temp dir, for breaking on purpose.
fn model_copy(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("webclip-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"] {
        std::fs::copy(fixture(&format!("tiny-clip/{f}")), dir.join(f)).unwrap();
    }
    dir
}

/// Rewrites `model.safetensors` in `dir`, letting `edit` drop (None) or reshape tensors.
fn rewrite_weights(dir: &Path, edit: impl Fn(&str, Vec<usize>) -> Option<Vec<usize>>) {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let views: Vec<(String, TensorView)> = st
        .tensors()
        .into_iter()
        .filter_map(|(name, v)| edit(&name, v.shape().to_vec()).map(|shape| (name, TensorView::new(v.dtype(), shape, v.data()).unwrap())))
        .collect();
    std::fs::write(dir.join("model.safetensors"), safetensors::tensor::serialize(views, None).unwrap()).unwrap();
}

fn probs(json: &str) -> Vec<f64> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["probs"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect()
}

#[test]
fn classify_json_matches_transformers() {
    let model = fixture("tiny-clip");
    let (code, out, err) = webclip(&["classify", "--json", "--model", &model, &fixture("images/astronaut.png"), "--label", "a robot", "--label", "wall-e", "--label", "a photo of a cat"]);
    assert_eq!(code, 0, "{err}");
    let got = probs(&out);
    let want = webclip::npy::parse(&std::fs::read(fixture("tiny-clip/expected/probs.npy")).unwrap(), "probs.npy").unwrap().rows();
    // astronaut.png is image 2 of cases.json; renormalise transformers' row to these three labels.
    let row = &want[2][..3];
    let total: f64 = row.iter().sum();
    for (g, w) in got.iter().zip(row) {
        assert!((g - w / total).abs() <= 1e-4, "{got:?} vs {row:?}");
    }
}

#[test]
fn templates_change_the_prompts() {
    let model = fixture("tiny-clip");
    let image = fixture("images/chelsea.png");
    let base = ["classify", "--json", "--model", &model, &image, "--label", "cat", "--label", "robot"];
    let plain = probs(&webclip(&base).1);
    let templated = probs(&webclip(&[&base[..], &["--template", "a photo of a {}"]].concat()).1);
    let (code, tokens, _) = webclip(&["tokenize", "--json", "--model", &model, "a photo of a cat"]);
    assert_eq!(code, 0);
    assert!(tokens.contains("[49406,320,1125,539,320,2368,49407]"), "{tokens}");
    assert!((plain[0] - templated[0]).abs() > 1e-6, "a template must change the scores: {plain:?} {templated:?}");
    assert!((templated.iter().sum::<f64>() - 1.0).abs() < 1e-9);
}

#[test]
fn embed_image_from_pixel_values_matches_transformers() {
    let (code, out, err) = webclip(&["embed-image", "--json", "--model", &fixture("tiny-clip"), "--pixel-values", &fixture("tiny-clip/expected/pixel_values.npy")]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let got: Vec<Vec<f64>> = serde_json::from_value(v["embeddings"].clone()).unwrap();
    let want = webclip::npy::parse(&std::fs::read(fixture("tiny-clip/expected/image_features.npy")).unwrap(), "f").unwrap().rows();
    for (g, w) in got.iter().zip(&want) {
        let diff = g.iter().zip(w).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        let norm = w.iter().map(|b| b * b).sum::<f64>().sqrt();
        assert!(diff / norm <= 1e-4, "relative error {}", diff / norm);
    }
}

#[test]
fn preprocess_prints_pixel_values() {
    let (code, out, err) = webclip(&["preprocess", "--json", "--model", &fixture("tiny-clip"), &fixture("images/chelsea.png")]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let got: Vec<f64> = v["pixel_values"][0].as_array().unwrap().iter().flat_map(|c| c.as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))).collect();
    let want = webclip::npy::parse(&std::fs::read(fixture("tiny-clip/expected/pixel_values.npy")).unwrap(), "p").unwrap();
    let first = &want.data[..got.len()];
    let worst = got.iter().zip(first).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst <= 1e-6, "chelsea.png pixel values differ from transformers by {worst}");
}

#[test]
fn missing_file_is_named() {
    let dir = model_copy("missing");
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    expect_error(&["embed-text", "--model", dir.to_str().unwrap(), "hi"], "tokenizer.json: missing");
    expect_error(&["embed-text", "--model", "/no/such/model", "hi"], "not a directory");
}

#[test]
fn unreadable_image_is_named() {
    let model = fixture("tiny-clip");
    let cargo_toml = root().join("Cargo.toml");
    expect_error(&["classify", "--model", &model, cargo_toml.to_str().unwrap(), "--label", "a"], "image ");
    expect_error(&["classify", "--model", &model, "/no/such.png", "--label", "a"], "/no/such.png");
    let truncated = std::env::temp_dir().join(format!("webclip-truncated-{}.png", std::process::id()));
    std::fs::write(&truncated, &std::fs::read(fixture("images/chelsea.png")).unwrap()[..500]).unwrap();
    expect_error(&["embed-image", "--model", &model, truncated.to_str().unwrap()], "webclip-truncated");
}

#[test]
fn missing_tensor_is_named() {
    let dir = model_copy("no-tensor");
    rewrite_weights(&dir, |name, shape| (name != "visual_projection.weight").then_some(shape));
    expect_error(&["embed-text", "--model", dir.to_str().unwrap(), "hi"], "tensor visual_projection.weight: missing");
}

#[test]
fn misshaped_tensor_is_named_with_both_shapes() {
    let dir = model_copy("bad-shape");
    rewrite_weights(&dir, |name, shape| Some(if name == "text_projection.weight" { shape.into_iter().rev().collect() } else { shape }));
    expect_error(&["embed-text", "--model", dir.to_str().unwrap(), "hi"], "tensor text_projection.weight: has shape [16, 24]");
}

#[test]
fn config_contradicting_weights_is_an_error() {
    let dir = model_copy("config");
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&config).unwrap();
    v["text_config"]["num_hidden_layers"] = 1.into();
    std::fs::write(dir.join("config.json"), v.to_string()).unwrap();
    expect_error(&["embed-text", "--model", dir.to_str().unwrap(), "hi"], "text_model.encoder.layers.1");
    v["text_config"]["num_hidden_layers"] = 2.into();
    v["vision_config"]["intermediate_size"] = 96.into();
    std::fs::write(dir.join("config.json"), v.to_string()).unwrap();
    expect_error(&["embed-text", "--model", dir.to_str().unwrap(), "hi"], "mlp.fc1.weight: has shape [97, 44]");
}

#[test]
fn empty_label_list_and_bad_labels() {
    let model = fixture("tiny-clip");
    let image = fixture("images/chelsea.png");
    expect_error(&["classify", "--model", &model, &image], "no labels given");
    expect_error(&["classify", "--model", &model, &image, "--label", "cat", "--label", "cat"], "\"cat\" is given twice");
    expect_error(&["classify", "--model", &model, &image, "--label", "cat", "--template", "a photo"], "has no {}");
}
