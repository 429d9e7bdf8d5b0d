//! End-to-end image preprocessing against transformers' `CLIPImageProcessorPil` and
//! `SiglipImageProcessorPil`.
//!
//! `tests/fixtures/preprocess/manifest.json` (written by `tools/make_preprocess_fixtures.py`)
//! lists cases: a picture from `tests/fixtures/images/`, a `preprocessor_config.json` body,
//! the processor that made it, and a PNG holding transformers' uint8 crop (SigLIP: the
//! resized picture) right before rescale + normalise (the script asserts that normalising it
//! reproduces transformers' `pixel_values` within 1e-6).
//!
//! Tolerance, per case, in 0..1 pixel space (our output mapped back through std and mean):
//! - everything Pillow decodes losslessly (PNG, GIF, BMP, lossless WebP) must be bit-exact,
//!   and within max |error| <= 2/255, mean <= 0.5/255 in any case; that includes SigLIP's
//!   exact bicubic and bilinear resizes and Pillow 13's choice of pass order;
//! - lossy decoders are not the same code as Pillow's: JPEG is decoded by zune-jpeg, not
//!   libjpeg-turbo (its 4:2:0 chroma upsampling rounds between the vertical and horizontal
//!   steps, its YCbCr->RGB uses 14-bit instead of 16-bit constants), lossy WebP by
//!   image-webp, not libwebp. Measured on these fixtures: JPEG pixels differ by at most
//!   4/255 before resizing (small 4:2:0 files; CMYK 1/255, YCCK 3/255), 1/255 for
//!   skimage's photos at B/32 settings; lossy WebP is exact today. They are held to max
//!   4/255, mean 0.5/255. Upscaling a small JPEG amplifies the decoder's error (128x96
//!   YCCK at B/32: 4/255; a 90x60 4:2:0 file: 5/255, so that one is compared unresized).
//!   SigLIP on rocket.jpg: 1/255 at 224x224 bicubic and at 40x40 bilinear, as at B/32.
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};

use webclip::image::{decode, from_rgba, output_size, preprocess, PreprocessConfig};

const MAX_TOL: f64 = 2.0 / 255.0;
const MAX_TOL_LOSSY: f64 = 4.0 / 255.0;
const MEAN_TOL: f64 = 0.5 / 255.0;
/// Mapping f32 model inputs back to 0..1 costs a few ulps; don't fail on those.
const SLACK: f64 = 1e-6;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Cases decoded by lossy codecs whose Rust decoders are not libjpeg-turbo / libwebp.
fn lossy(image: &str) -> bool {
    image.ends_with(".jpg") || image.ends_with("lossy.webp")
}

struct Stats {
    max: f64,
    mean: f64,
    /// Samples whose uint8 value differs from transformers'.
    wrong: usize,
    /// Largest difference in normalised (model input) space.
    max_norm: f64,
    worst: String,
}

fn compare(
    name: &str,
    ours: &[f32],
    want_u8: &[u8],
    shape: [usize; 3],
    cfg: &PreprocessConfig,
) -> Stats {
    let [c_n, h, w] = shape;
    assert_eq!(ours.len(), c_n * h * w, "{name}: output length");
    let (mut max, mut sum, mut wrong, mut max_norm) = (0f64, 0f64, 0usize, 0f64);
    let mut worst = String::new();
    for c in 0..3 {
        for y in 0..h {
            for x in 0..w {
                let got = ours[(c * h + y) * w + x];
                let v = want_u8[(y * w + x) * 3 + c];
                // transformers' own arithmetic for the expected f32.
                let mut want = if cfg.do_rescale {
                    (f64::from(v) * (1.0 / 255.0)) as f32
                } else {
                    f32::from(v)
                };
                let mut back = f64::from(got);
                if cfg.do_normalize {
                    want = (want - cfg.image_mean[c]) / cfg.image_std[c];
                    back = back * f64::from(cfg.image_std[c]) + f64::from(cfg.image_mean[c]);
                }
                // Our value on the 0..255 scale, then the error in 0..1 space.
                let back255 = if cfg.do_rescale { back * 255.0 } else { back };
                let err = (back255 - f64::from(v)).abs() / 255.0;
                max_norm = max_norm.max(f64::from((got - want).abs()));
                if back255.round() as i64 != i64::from(v) {
                    wrong += 1;
                }
                if err > max {
                    max = err;
                    worst = format!(
                        "channel {c} y {y} x {x}: ours {back255:.2}/255, transformers {v}/255"
                    );
                }
                sum += err;
            }
        }
    }
    Stats { max, mean: sum / ours.len() as f64, wrong, max_norm, worst }
}

#[test]
fn matches_transformers() {
    let dir = fixtures();
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&dir.join("preprocess/manifest.json")))
            .expect("manifest.json");
    let cases = manifest["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20, "manifest has only {} cases", cases.len());
    let siglip = cases.iter().filter(|c| c["processor"] == "SiglipImageProcessorPil").count();
    assert!(siglip >= 10, "manifest has only {siglip} SigLIP cases");
    let mut failures = Vec::new();
    println!(
        "{:<26} {:>9} {:>9} {:>7} {:>10}",
        "case", "max*255", "mean*255", "wrong", "max(norm)"
    );
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let image = case["image"].as_str().unwrap();
        let cfg = PreprocessConfig::from_json(&case["config"].to_string())
            .unwrap_or_else(|e| panic!("{name}: config does not parse: {e}"));
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let shape = [shape[0], shape[1], shape[2]];

        let img = decode(&read(&dir.join("images").join(image)), image)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = preprocess(&img, &cfg);
        let expected = image::load_from_memory(&read(
            &dir.join("preprocess").join(case["expected"].as_str().unwrap()),
        ))
        .expect("expected png")
        .into_rgb8();
        assert_eq!(
            (expected.height() as usize, expected.width() as usize),
            (shape[1], shape[2]),
            "{name}"
        );

        let s = compare(name, &ours, expected.as_raw(), shape, &cfg);
        println!(
            "{name:<26} {:>9.4} {:>9.4} {:>7} {:>10.2e}",
            s.max * 255.0,
            s.mean * 255.0,
            s.wrong,
            s.max_norm
        );
        let exact = !lossy(image);
        let max_tol = if exact { MAX_TOL } else { MAX_TOL_LOSSY };
        if s.max > max_tol + SLACK || s.mean > MEAN_TOL || (exact && s.wrong > 0) {
            failures.push(format!(
                "{name} ({image}): max {:.3}/255 mean {:.4}/255, {} samples differ{}; worst at {}",
                s.max * 255.0,
                s.mean * 255.0,
                s.wrong,
                if exact { " (expected bit-exact)" } else { "" },
                s.worst
            ));
        }
    }
    assert!(failures.is_empty(), "{} case(s) off:\n{}", failures.len(), failures.join("\n"));
}

/// The browser path (`ImageData` -> `from_rgba`) composites exactly like `decode`.
#[test]
fn from_rgba_matches_decode() {
    let dir = fixtures().join("images");
    for f in ["chelsea_rgba.png", "alpha_ramp.png"] {
        let bytes = read(&dir.join(f));
        let rgba = image::load_from_memory(&bytes).unwrap().into_rgba8();
        let a = from_rgba(rgba.width(), rgba.height(), rgba.as_raw(), f).unwrap();
        assert_eq!(a, decode(&bytes, f).unwrap(), "{f}");
    }
}

#[test]
fn broken_files_are_errors_naming_the_image() {
    let chelsea = read(&fixtures().join("images/chelsea.png"));
    let rocket = read(&fixtures().join("images/rocket.jpg"));
    let cases: [(&str, &[u8]); 5] = [
        ("empty.png", b""),
        ("notes.txt", b"just some text"),
        ("half.png", &chelsea[..chelsea.len() / 2]),
        ("head.jpg", &rocket[..600]),
        ("header_only.png", &chelsea[..33]),
    ];
    for (name, bytes) in cases {
        let err = decode(bytes, name).expect_err(name).to_string();
        assert!(err.contains(name), "{name}: {err}");
    }
}

#[test]
fn clip_default_is_the_b32_file() {
    let b32 = r#"{"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
        "feature_extractor_type": "CLIPFeatureExtractor",
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224}"#;
    assert_eq!(PreprocessConfig::from_json(b32).unwrap(), PreprocessConfig::clip_default(224));
}

/// A picture 1 pixel wide becomes 224 x 22.4 million after resizing; only the crop is
/// computed, so this is instant and small.
#[test]
fn extreme_aspect_ratio_is_cheap() {
    let img = webclip::image::RgbImage {
        width: 1,
        height: 100_000,
        data: (0..300_000).map(|i| (i % 251) as u8).collect(),
    };
    let out = preprocess(&img, &PreprocessConfig::clip_default(224));
    assert_eq!(out.len(), 3 * 224 * 224);
    assert!(out.iter().all(|v| v.is_finite()));
}

/// A SigLIP file: every picture becomes exactly 3 x 224 x 224 (no crop, aspect ratio not
/// kept), values in -1..1.
#[test]
fn siglip_output_is_the_exact_size() {
    let file = r#"{"do_normalize": true, "do_rescale": true, "do_resize": true,
        "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "SiglipImageProcessor",
        "image_std": [0.5, 0.5, 0.5], "processor_class": "SiglipProcessor", "resample": 3,
        "rescale_factor": 0.00392156862745098, "size": {"height": 224, "width": 224}}"#;
    let cfg = PreprocessConfig::from_json(file).unwrap();
    assert_eq!(cfg, PreprocessConfig::siglip_default(224));
    for f in ["chelsea.png", "rocket.jpg", "rgba_transparency.png", "coffee_strip_5x400.png"] {
        let img = decode(&read(&fixtures().join("images").join(f)), f).unwrap();
        assert_eq!(output_size(img.width, img.height, &cfg), (224, 224), "{f}");
        let out = preprocess(&img, &cfg);
        assert_eq!(out.len(), 3 * 224 * 224, "{f}");
        assert!(out.iter().all(|v| (-1.0..=1.0).contains(v)), "{f}");
    }
}
