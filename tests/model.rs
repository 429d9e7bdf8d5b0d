//! End to end against transformers, natively: the fixtures read from disk and
//! checked by `common` (which states the tolerances); `tests/browser.rs` runs
//! the same checks on the browser's WebGPU.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::Fixture;
use webclip::gpu::Gpu;
use webclip::model::ModelFiles;

fn gpu() -> Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| pollster::block_on(Gpu::new()).expect("a WebGPU/Vulkan adapter (lavapipe: mesa-vulkan-drivers)")).clone()
}

/// A committed fixture by name, or any model directory by absolute path (a
/// locally generated full-size model, see `WEBCLIP_EXTRA_FIXTURE`). Its images
/// come from its own `images/` if it has one, else from `tests/fixtures/images`.
fn fixture(name: &str) -> Fixture {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = if Path::new(name).is_absolute() { PathBuf::from(name) } else { fixtures.join(name) };
    let files = ModelFiles::from_dir(&dir).unwrap();
    let images = if dir.join("images").is_dir() { dir.clone() } else { fixtures };
    Fixture::new(name, files, move |file| {
        let path = if file.starts_with("images/") { images.join(file) } else { dir.join(file) };
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

#[test]
fn tiny_clip_fp32_quick_gelu_matches_transformers() {
    pollster::block_on(common::check_fixture(&fixture("tiny-clip"), &gpu()));
}

#[test]
fn tiny_clip_fp16_gelu_matches_transformers() {
    pollster::block_on(common::check_fixture(&fixture("tiny-clip-fp16-gelu"), &gpu()));
}

#[test]
fn classify_matches_transformers_probabilities() {
    pollster::block_on(common::check_classify(&fixture("tiny-clip"), &gpu()));
}

/// The same comparison on a model generated locally and not committed (the
/// full-size random ViT-B/32 of `tools/make_vitb32.py`):
/// `WEBCLIP_EXTRA_FIXTURE=/work/vitb32 cargo test --release --test model -- --nocapture`.
#[test]
fn extra_fixture_matches_transformers() {
    if let Ok(dir) = std::env::var("WEBCLIP_EXTRA_FIXTURE") {
        pollster::block_on(common::check_fixture(&fixture(&dir).with_tolerance(3e-5), &gpu()));
    }
}
