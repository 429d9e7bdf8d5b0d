//! Writes the seed corpora under `seeds/` from the repository's fixtures:
//! `cargo run --example make_seeds` (from `fuzz/`). Every seed is kept small
//! (a few KB): libFuzzer mutates small inputs far faster, and they go in git.

use std::collections::HashMap;
use std::path::Path;

use image::{ImageBuffer, ImageFormat, Luma, Rgb, Rgba};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use webclip::model::model_file::Plan;
use webclip::model::schema::expected;
use webclip::model::{ClipConfig, ModelTexts};
use webclip::ops::WeightFormat;

/// Hand-written (the fuzz target checks checkpoints against it too): a model
/// of one layer per tower, 4 wide, a few KB of weights.
const MICRO_CONFIG: &str = include_str!("../seeds/config/micro-config.json");

const FIXTURES: &str = "../tests/fixtures";

fn write(dir: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("seeds").join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A safetensors file's header: its 8-byte length and the JSON.
fn header_of(file: &[u8]) -> &[u8] {
    let n = u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    &file[..8 + n]
}

/// A checkpoint of every tensor `config` implies, in `dtype`, values 0, 1, 2, ...
fn checkpoint(config: &str, dtype: Dtype) -> Vec<u8> {
    let config = ClipConfig::from_json(config).unwrap();
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = expected(&config)
        .into_iter()
        .map(|e| {
            let n: usize = e.shape.iter().product();
            let bytes = (0..n)
                .flat_map(|i| match dtype {
                    Dtype::F32 => (i as f32).to_le_bytes().to_vec(),
                    Dtype::BF16 => half::bf16::from_f32(i as f32).to_le_bytes().to_vec(),
                    _ => unreachable!(),
                })
                .collect();
            (e.name, e.shape, bytes)
        })
        .collect();
    let views: Vec<(&str, TensorView)> = data.iter().map(|(name, shape, bytes)| (name.as_str(), TensorView::new(dtype, shape.clone(), bytes).unwrap())).collect();
    safetensors::serialize(views, None::<HashMap<String, String>>).unwrap()
}

/// A webclip model file for `config`, its data zeros, with a stand-in
/// tokenizer (the real one would make every seed 2 MB).
fn model_file(config: &str, format: WeightFormat) -> Vec<u8> {
    let texts = ModelTexts { config: config.into(), tokenizer: b"{}".to_vec(), preprocessor: String::from_utf8(fixture("tiny-clip/preprocessor_config.json")).unwrap() };
    let plan = Plan::new(&texts, format, "seed").unwrap();
    let mut file = plan.header.clone();
    file.resize(plan.len as usize, 0);
    file
}

fn encode(img: impl Into<image::DynamicImage>, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.into().write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn main() {
    let micro = MICRO_CONFIG;

    // Weights files: the tiny fixture's header (its 3 MB of data cut off), and
    // whole micro models, a checkpoint or a model file in each format, that
    // pass every check.
    write("safetensors_header", "tiny-clip-header.safetensors", header_of(&fixture("tiny-clip/model.safetensors")));
    write("safetensors_header", "micro-f32.safetensors", &checkpoint(micro, Dtype::F32));
    write("safetensors_header", "micro-bf16.safetensors", &checkpoint(micro, Dtype::BF16));
    for format in WeightFormat::ALL {
        write("safetensors_header", &format!("micro-{}.webclip", format.name()), &model_file(micro, format));
    }
    // Headers alone, without their length prefix (the target adds it to inputs
    // starting with `{`): one listing tensors, one only the embedded files.
    let q8 = model_file(micro, WeightFormat::Q8);
    write("safetensors_header", "micro-q8-header.json", &header_of(&q8)[8..]);
    let metadata: serde_json::Value = serde_json::from_slice(&header_of(&q8)[8..]).unwrap();
    write("safetensors_header", "micro-metadata-only.json", serde_json::json!({ "__metadata__": metadata["__metadata__"] }).to_string().as_bytes());

    for (name, path) in [
        ("tiny-clip-config.json", "tiny-clip/config.json"),
        ("fp16-gelu-config.json", "tiny-clip-fp16-gelu/config.json"),
        ("tiny-clip-preprocessor.json", "tiny-clip/preprocessor_config.json"),
        ("fp16-gelu-preprocessor.json", "tiny-clip-fp16-gelu/preprocessor_config.json"),
    ] {
        write("config", name, &fixture(path));
    }
    write("config", "old-style-preprocessor.json", br#"{"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224}"#);

    // Pictures: the small fixtures as they are, plus one small picture in every
    // other format and sample depth the decoder handles.
    for name in [
        "alpha_ramp.png",
        "camera_1bit.png",
        "camera_gray_q85.jpg",
        "rgba_transparency.png",
        "tiny_7x3.png",
        "rocket_crop_q90.jpg",
        "rocket_exif6.jpg",
        "rocket_palette_alpha.png",
        "coffee_strip_5x400.png",
        "rocket_crop_444.jpg",
        "chelsea_rgb_trns.png",
    ] {
        write("image", name, &fixture(&format!("images/{name}")));
    }
    let rgb = ImageBuffer::from_fn(9, 5, |x, y| Rgb([(x * 28) as u8, (y * 50) as u8, ((x + y) * 17) as u8]));
    let rgba = ImageBuffer::from_fn(6, 4, |x, y| Rgba([(x * 40) as u8, 200, (y * 60) as u8, ((x + y) * 30) as u8]));
    let gray16 = ImageBuffer::from_fn(5, 3, |x, y| Luma([(x * 300 + y * 20000) as u16]));
    let rgba16 = ImageBuffer::from_fn(4, 4, |x, y| Rgba([(x * 16000) as u16, (y * 16000) as u16, 40000, ((x + y) * 9000) as u16]));
    write("image", "rgb.gif", &encode(rgb.clone(), ImageFormat::Gif));
    write("image", "rgba.gif", &encode(rgba.clone(), ImageFormat::Gif));
    write("image", "rgb.bmp", &encode(rgb.clone(), ImageFormat::Bmp));
    write("image", "rgba.bmp", &encode(rgba.clone(), ImageFormat::Bmp));
    write("image", "rgba-lossless.webp", &encode(rgba.clone(), ImageFormat::WebP));
    write("image", "gray16.png", &encode(gray16.clone(), ImageFormat::Png));
    write("image", "rgba16.png", &encode(rgba16.clone(), ImageFormat::Png));
    write("image", "rgb.jpg", &encode(rgb.clone(), ImageFormat::Jpeg));

    // Texts: a spread of the tokenizer corpus' hard cases.
    let corpus: serde_json::Value = serde_json::from_slice(&fixture("tokenizer/corpus.json")).unwrap();
    let wanted = [
        "basic",
        "empty",
        "only_whitespace_mix",
        "mixed_case",
        "tabs_newlines",
        "punct_runs",
        "contractions_upper",
        "curly_apostrophe",
        "decimal_number",
        "accents_nfd",
        "german_sharp_s",
        "turkish_i",
        "ligatures",
        "fullwidth",
        "cjk_japanese",
        "thai",
        "rtl_mixed",
        "emoji_zwj_family",
        "emoji_keycap_vs16",
        "endoftext_literal",
        "both_specials_literal",
        "html_entities",
        "control_chars",
        "zero_width",
        "unicode_whitespace",
        "new_unicode_letters",
        "combining_marks",
        "url",
        "long_single_word",
        "tokens_100",
        "endoftext_at_boundary",
    ];
    for entry in corpus["entries"].as_array().unwrap() {
        let name = entry["name"].as_str().unwrap();
        if wanted.contains(&name) {
            write("tokenizer", &format!("{name}.txt"), entry["text"].as_str().unwrap().as_bytes());
        }
    }
}
