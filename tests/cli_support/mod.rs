//! Running the `webclip` binary on fixtures, and copies of them broken on
//! purpose: shared by `tests/cli.rs` and `tests/bad_weights.rs`.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::{Path, PathBuf};
use std::process::Command;

use safetensors::tensor::TensorView;
use safetensors::SafeTensors;

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> String {
    root().join("tests/fixtures").join(rel).display().to_string()
}

/// Runs the CLI; returns (exit code, stdout, the last stderr line). Drivers may
/// print their own notices to stderr first; ours is the last line.
pub fn webclip(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_webclip")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").to_string();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), last)
}

pub fn expect_error(args: &[&str], needle: &str) {
    let (code, _, err) = webclip(args);
    assert_eq!(code, 1, "{args:?} should fail; stderr: {err}");
    assert!(
        err.starts_with("webclip: ") && err.contains(needle),
        "{args:?}: expected an error containing {needle:?}, got {err:?}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A copy of the tiny fixture model in a fresh temp dir, for breaking on purpose.
pub fn model_copy(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("webclip-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"] {
        std::fs::copy(fixture(&format!("tiny-clip/{f}")), dir.join(f)).unwrap();
    }
    dir
}

/// Rewrites `model.safetensors` in `dir`, letting `edit` drop (None) or reshape tensors.
pub fn rewrite_weights(dir: &Path, edit: impl Fn(&str, Vec<usize>) -> Option<Vec<usize>>) {
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let views: Vec<(String, TensorView)> = st
        .tensors()
        .into_iter()
        .filter_map(|(name, v)| {
            edit(&name, v.shape().to_vec())
                .map(|shape| (name, TensorView::new(v.dtype(), shape, v.data()).unwrap()))
        })
        .collect();
    std::fs::write(
        dir.join("model.safetensors"),
        safetensors::tensor::serialize(views, None).unwrap(),
    )
    .unwrap();
}

/// A fresh temp dir for one test's outputs.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("webclip-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn convert(model: &str, quant: &str, out: &Path) {
    let (code, _, err) = webclip(&[
        "convert",
        "--model",
        model,
        "--quant",
        quant,
        "-o",
        out.to_str().unwrap(),
        "--source",
        "tiny",
    ]);
    assert_eq!(code, 0, "convert {model} to {quant}: {err}");
}
