//! End to end against transformers on the browser's WebGPU: the checks of
//! `tests/model.rs` (in `common`, which states the tolerances) on fixtures
//! embedded in the test binary. Run by `tools/test-browser.sh`.
#![cfg(target_arch = "wasm32")]

mod common;

use common::Fixture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use webclip::gpu::Gpu;
use webclip::model::ModelFiles;

wasm_bindgen_test_configure!(run_in_browser);

/// `tests/fixtures/<path>`, embedded.
macro_rules! embed {
    ($path:expr) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/", $path))
    };
}

/// A fixture's `expected/heatmaps.json` and the maps of its cases `0..6`, by name.
macro_rules! heatmap_files {
    ($dir:literal, $($i:literal)*) => {
        [
            ("expected/heatmaps.json", &embed!(concat!($dir, "/expected/heatmaps.json"))[..]),
            $(
                (
                    concat!("expected/heatmap_", $i, "_probs.npy"),
                    &embed!(concat!($dir, "/expected/heatmap_", $i, "_probs.npy"))[..],
                ),
                (
                    concat!("expected/heatmap_", $i, "_cosines.npy"),
                    &embed!(concat!($dir, "/expected/heatmap_", $i, "_cosines.npy"))[..],
                ),
            )*
        ]
    };
}

/// A fixture directory's four model files and the `expected/` files `common`
/// reads (its heatmaps' too unless `no_heatmaps`: SigLIP has none), embedded;
/// images come from `tests/fixtures/images`.
macro_rules! fixture {
    ($dir:literal) => {
        fixture!($dir, heatmap_files!($dir, "0" "1" "2" "3" "4" "5"))
    };
    ($dir:literal, no_heatmaps) => {
        fixture!($dir, [("", &[][..]); 0])
    };
    ($dir:literal, $heatmaps:expr) => {{
        let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
        let files = ModelFiles {
            config: text(embed!(concat!($dir, "/config.json"))),
            weights: embed!(concat!($dir, "/model.safetensors")).to_vec(),
            tokenizer: embed!(concat!($dir, "/tokenizer.json")).to_vec(),
            preprocessor: text(embed!(concat!($dir, "/preprocessor_config.json"))),
        };
        let heatmaps = $heatmaps;
        Fixture::new($dir, files, move |file| {
            if let Some((_, bytes)) = heatmaps.iter().find(|(name, _)| *name == file) {
                return bytes.to_vec();
            }
            let bytes: &[u8] = match file {
                "expected/cases.json" => embed!(concat!($dir, "/expected/cases.json")),
                "expected/pixel_values.npy" => embed!(concat!($dir, "/expected/pixel_values.npy")),
                "expected/image_features.npy" => {
                    embed!(concat!($dir, "/expected/image_features.npy"))
                }
                "expected/text_features.npy" => {
                    embed!(concat!($dir, "/expected/text_features.npy"))
                }
                "expected/probs.npy" => embed!(concat!($dir, "/expected/probs.npy")),
                _ => image(file),
            };
            bytes.to_vec()
        })
    }};
}

/// The images the fixtures' `cases.json` name.
fn image(file: &str) -> &'static [u8] {
    match file {
        "images/chelsea.png" => embed!("images/chelsea.png"),
        "images/rocket.jpg" => embed!("images/rocket.jpg"),
        "images/astronaut.png" => embed!("images/astronaut.png"),
        "images/rgba_transparency.png" => embed!("images/rgba_transparency.png"),
        _ => panic!("{file} is not embedded: add it to tests/browser.rs"),
    }
}

async fn gpu() -> Gpu {
    Gpu::new().await.expect("WebGPU (Chromium: --enable-unsafe-webgpu, see tools/test-browser.sh)")
}

#[wasm_bindgen_test]
async fn tiny_clip_fp32_quick_gelu_matches_transformers() {
    common::check_fixture(&fixture!("tiny-clip"), &gpu().await).await;
}

#[wasm_bindgen_test]
async fn tiny_clip_fp16_gelu_matches_transformers() {
    common::check_fixture(&fixture!("tiny-clip-fp16-gelu"), &gpu().await).await;
}

#[wasm_bindgen_test]
async fn tiny_siglip_matches_transformers() {
    let gpu = gpu().await;
    common::check_fixture(&fixture!("tiny-siglip", no_heatmaps), &gpu).await;
    common::check_fixture(&fixture!("tiny-siglip2", no_heatmaps), &gpu).await;
}

#[wasm_bindgen_test]
async fn classify_matches_transformers_probabilities() {
    common::check_classify(&fixture!("tiny-clip"), &gpu().await).await;
}

#[wasm_bindgen_test]
async fn heatmaps_match_transformers_in_float64() {
    let gpu = gpu().await;
    common::heatmaps::check_heatmaps(&fixture!("tiny-clip"), &gpu).await;
    common::heatmaps::check_heatmaps(&fixture!("tiny-clip-fp16-gelu"), &gpu).await;
}

#[wasm_bindgen_test]
async fn reduced_weight_formats_stay_close_to_transformers() {
    let gpu = gpu().await;
    common::check_formats(&fixture!("tiny-clip"), &gpu, common::CLIP_FIXTURES).await;
    common::check_formats(&fixture!("tiny-clip-fp16-gelu"), &gpu, common::CLIP_FIXTURES).await;
}
