//! The `webclip` binary: outputs against transformers' fixtures, and one clear
//! line plus a non-zero exit for each kind of bad input (never a panic).
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;
use std::process::Command;

use safetensors::tensor::TensorView;
use safetensors::SafeTensors;

mod cli_support;
use cli_support::*;

/// A JSON file of the fixtures, parsed.
fn fixture_json(rel: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(rel)).unwrap()).unwrap()
}

fn probs(json: &str) -> Vec<f64> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["probs"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect()
}

/// On each engine (`auto` is the CPU engine where the only adapter is a software one).
#[test]
fn classify_json_matches_transformers() {
    let model = fixture("tiny-clip");
    let want = webclip::npy::parse(
        &std::fs::read(fixture("tiny-clip/expected/probs.npy")).unwrap(),
        "probs.npy",
    )
    .unwrap()
    .rows();
    for engine in ["auto", "webgpu", "cpu"] {
        let (code, out, err) = webclip(&[
            "classify",
            "--json",
            "--engine",
            engine,
            "--model",
            &model,
            &fixture("images/astronaut.png"),
            "--label",
            "a robot",
            "--label",
            "wall-e",
            "--label",
            "a photo of a cat",
        ]);
        assert_eq!(code, 0, "{engine}: {err}");
        let got = probs(&out);
        assert_eq!(got.len(), 3, "{engine}: one probability per label: {got:?}");
        // astronaut.png is image 2 of cases.json; renormalise transformers' row to these labels.
        let row = &want[2][..3];
        let total: f64 = row.iter().sum();
        for (g, w) in got.iter().zip(row) {
            assert!((g - w / total).abs() <= 1e-4, "{engine}: {got:?} vs {row:?}");
        }
    }
    expect_error(
        &[
            "classify",
            "--engine",
            "tpu",
            "--model",
            &model,
            &fixture("images/astronaut.png"),
            "--label",
            "a",
        ],
        "unknown engine \"tpu\" (expected auto, webgpu or cpu)",
    );
}

#[test]
fn templates_change_the_prompts() {
    let model = fixture("tiny-clip");
    let image = fixture("images/chelsea.png");
    let base =
        ["classify", "--json", "--model", &model, &image, "--label", "cat", "--label", "robot"];
    let plain = probs(&webclip(&base).1);
    let templated = probs(&webclip(&[&base[..], &["--template", "a photo of a {}"]].concat()).1);
    assert_eq!((plain.len(), templated.len()), (2, 2), "one probability per label");
    let (code, tokens, _) = webclip(&["tokenize", "--json", "--model", &model, "a photo of a cat"]);
    assert_eq!(code, 0);
    assert!(tokens.contains("[49406,320,1125,539,320,2368,49407]"), "{tokens}");
    assert!(
        (plain[0] - templated[0]).abs() > 1e-6,
        "a template must change the scores: {plain:?} {templated:?}"
    );
    assert!((templated.iter().sum::<f64>() - 1.0).abs() < 1e-9);
}

#[test]
fn embed_image_from_pixel_values_matches_transformers() {
    let (code, out, err) = webclip(&[
        "embed-image",
        "--json",
        "--model",
        &fixture("tiny-clip"),
        "--pixel-values",
        &fixture("tiny-clip/expected/pixel_values.npy"),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let got: Vec<Vec<f64>> = serde_json::from_value(v["embeddings"].clone()).unwrap();
    let want = webclip::npy::parse(
        &std::fs::read(fixture("tiny-clip/expected/image_features.npy")).unwrap(),
        "f",
    )
    .unwrap()
    .rows();
    // One embedding per image of pixel_values.npy, projection_dim values each.
    let images = webclip::npy::parse(
        &std::fs::read(fixture("tiny-clip/expected/pixel_values.npy")).unwrap(),
        "p",
    )
    .unwrap()
    .shape[0];
    let dim = fixture_json("tiny-clip/config.json")["projection_dim"].as_u64().unwrap() as usize;
    assert_eq!((got.len(), want.len()), (images, images), "one embedding per image");
    assert!(got.iter().all(|g| g.len() == dim), "every embedding has {dim} values");
    for (g, w) in got.iter().zip(&want) {
        let diff = g.iter().zip(w).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt();
        let norm = w.iter().map(|b| b * b).sum::<f64>().sqrt();
        assert!(diff / norm <= 1e-4, "relative error {}", diff / norm);
    }
}

#[test]
fn preprocess_prints_pixel_values() {
    let (code, out, err) = webclip(&[
        "preprocess",
        "--json",
        "--model",
        &fixture("tiny-clip"),
        &fixture("images/chelsea.png"),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let got: Vec<f64> = v["pixel_values"][0]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            c.as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
        })
        .collect();
    // 3 channels of the crop preprocessor_config.json asks for.
    let crop = &fixture_json("tiny-clip/preprocessor_config.json")["crop_size"];
    let (h, w) = (crop["height"].as_u64().unwrap(), crop["width"].as_u64().unwrap());
    assert_eq!(got.len() as u64, 3 * h * w, "pixel values of one image");
    let want = webclip::npy::parse(
        &std::fs::read(fixture("tiny-clip/expected/pixel_values.npy")).unwrap(),
        "p",
    )
    .unwrap();
    let first = &want.data[..got.len()];
    let worst = got.iter().zip(first).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst <= 1e-6, "chelsea.png pixel values differ from transformers by {worst}");
}

#[test]
fn missing_file_is_named() {
    let dir = model_copy("missing");
    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    expect_error(
        &["embed-text", "--model", dir.to_str().unwrap(), "hi"],
        "tokenizer.json: missing",
    );
    expect_error(&["embed-text", "--model", "/no/such/model", "hi"], "not found");
}

#[test]
fn unreadable_image_is_named() {
    let model = fixture("tiny-clip");
    let cargo_toml = root().join("Cargo.toml");
    expect_error(
        &["classify", "--model", &model, cargo_toml.to_str().unwrap(), "--label", "a"],
        "image ",
    );
    expect_error(&["classify", "--model", &model, "/no/such.png", "--label", "a"], "/no/such.png");
    let truncated =
        std::env::temp_dir().join(format!("webclip-truncated-{}.png", std::process::id()));
    std::fs::write(&truncated, &std::fs::read(fixture("images/chelsea.png")).unwrap()[..500])
        .unwrap();
    expect_error(
        &["embed-image", "--model", &model, truncated.to_str().unwrap()],
        "webclip-truncated",
    );
}

/// A 68-byte PNG whose IHDR claims 100000 x 100000 RGB (10^10 pixels, 30 GB decoded),
/// followed by an empty IDAT and IEND.
const BOMB_PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\x01\x86\xa0\0\x01\x86\xa0\x08\x02\0\0\0\x27\x30\x9c\x9f\
    \0\0\0\x0bIDAT\x78\x01\x01\0\0\xff\xff\0\0\0\x01\x89\xd6\xae\x5f\0\0\0\0IEND\xae\x42\x60\x82";

#[test]
fn decompression_bomb_is_refused_quickly() {
    let bomb = temp_dir("bomb").join("bomb.png");
    assert_eq!(BOMB_PNG.len(), 68);
    std::fs::write(&bomb, BOMB_PNG).unwrap();
    let start = std::time::Instant::now();
    expect_error(
        &["classify", "--model", &fixture("tiny-clip"), bomb.to_str().unwrap(), "--label", "a"],
        "bomb.png: is 100000x100000 = 10000000000 pixels, more than the 178956970 allowed",
    );
    assert!(start.elapsed().as_secs() < 10, "refusing took {:?}", start.elapsed());
}

#[test]
fn missing_tensor_is_named() {
    let dir = model_copy("no-tensor");
    rewrite_weights(&dir, |name, shape| (name != "visual_projection.weight").then_some(shape));
    expect_error(
        &["embed-text", "--model", dir.to_str().unwrap(), "hi"],
        "tensor visual_projection.weight: missing",
    );
}

#[test]
fn misshaped_tensor_is_named_with_both_shapes() {
    let dir = model_copy("bad-shape");
    rewrite_weights(&dir, |name, shape| {
        Some(if name == "text_projection.weight" {
            shape.into_iter().rev().collect()
        } else {
            shape
        })
    });
    expect_error(
        &["embed-text", "--model", dir.to_str().unwrap(), "hi"],
        "tensor text_projection.weight: has shape [16, 24]",
    );
}

#[test]
fn config_contradicting_weights_is_an_error() {
    let dir = model_copy("config");
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&config).unwrap();
    v["text_config"]["num_hidden_layers"] = 1.into();
    std::fs::write(dir.join("config.json"), v.to_string()).unwrap();
    expect_error(
        &["embed-text", "--model", dir.to_str().unwrap(), "hi"],
        "text_model.encoder.layers.1",
    );
    v["text_config"]["num_hidden_layers"] = 2.into();
    v["vision_config"]["intermediate_size"] = 96.into();
    std::fs::write(dir.join("config.json"), v.to_string()).unwrap();
    expect_error(
        &["embed-text", "--model", dir.to_str().unwrap(), "hi"],
        "mlp.fc1.weight: has shape [97, 44]",
    );
}

#[test]
fn empty_label_list_and_bad_labels() {
    let model = fixture("tiny-clip");
    let image = fixture("images/chelsea.png");
    expect_error(&["classify", "--model", &model, &image], "no labels given");
    expect_error(
        &["classify", "--model", &model, &image, "--label", "cat", "--label", "cat"],
        "\"cat\" is given twice",
    );
    expect_error(
        &["classify", "--model", &model, &image, "--label", "cat", "--template", "a photo"],
        "has no {}",
    );
    // A label past the 77 tokens CLIP reads is scored on its beginning, with a note saying so.
    let long = "a very long label ".repeat(600);
    let (code, out, err) = webclip(&[
        "classify", "--json", "--model", &model, &image, "--label", &long, "--label", "cat",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(probs(&out).len(), 2);
    let out = Command::new(env!("CARGO_BIN_EXE_webclip"))
        .args(["classify", "--model", &model, &image, "--label", &long, "--label", "cat"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("webclip: note: \"a very long label a very long label a very long label a very\"… is longer than the 77 tokens the model reads"), "{stderr}");
    assert!(!stderr.contains("\"cat\""), "{stderr}");
}

#[test]
fn converted_files_give_exactly_what_loading_the_checkpoint_in_that_format_gives() {
    // The file stores the bytes packing at load time makes: features must be identical.
    let dir = temp_dir("convert");
    let model = fixture("tiny-clip");
    let pixels = fixture("tiny-clip/expected/pixel_values.npy");
    for quant in ["f32", "f16", "q8", "q4"] {
        let file = dir.join(format!("tiny-{quant}.webclip"));
        convert(&model, quant, &file);
        let f = file.to_str().unwrap();
        for args in [
            &["embed-image", "--json", "--pixel-values", &pixels][..],
            &["embed-text", "--json", "a photo of a cat", "a dog"],
        ] {
            let (code, from_file, err) = webclip(&[args, &["--model", f]].concat());
            assert_eq!(code, 0, "{quant} {args:?}: {err}");
            let (_, from_dir, _) =
                webclip(&[args, &["--model", &model, "--weights", quant]].concat());
            assert_eq!(
                from_file, from_dir,
                "{quant} {args:?}: the file and the checkpoint loaded as {quant} differ"
            );
        }
        // The tokenizer and preprocessor come from the file's header.
        assert_eq!(
            webclip(&["tokenize", "--json", "--model", f, "a cat"]).1,
            webclip(&["tokenize", "--json", "--model", &model, "a cat"]).1
        );
        let image = fixture("images/chelsea.png");
        assert_eq!(
            webclip(&["preprocess", "--json", "--model", f, &image]).1,
            webclip(&["preprocess", "--json", "--model", &model, &image]).1
        );
        if quant != "f32" {
            expect_error(
                &["embed-text", "--model", f, "--weights", "f32", "hi"],
                &format!("holds {quant} weights, not f32"),
            );
        }
    }
    // A q8 file is about a quarter of the f32 one (the embedded tokenizer aside).
    let size = |q: &str| std::fs::metadata(dir.join(format!("tiny-{q}.webclip"))).unwrap().len();
    assert!(size("q8") < size("f32") && size("q4") < size("q8") && size("f16") < size("f32"));
}

#[test]
fn convert_reads_sharded_fp16_checkpoints() {
    // tiny-clip-fp16-gelu split into two shards with an index, as transformers saves large models.
    let dir = temp_dir("shards");
    let src = fixture("tiny-clip-fp16-gelu");
    for f in ["config.json", "tokenizer.json", "preprocessor_config.json"] {
        std::fs::copy(Path::new(&src).join(f), dir.join(f)).unwrap();
    }
    let bytes = std::fs::read(Path::new(&src).join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    let half = names.len() / 2;
    let mut map = serde_json::Map::new();
    for (i, part) in [&names[..half], &names[half..]].into_iter().enumerate() {
        let file = format!("model-0000{}-of-00002.safetensors", i + 1);
        let views: Vec<(String, TensorView)> =
            part.iter().map(|n| (n.clone(), st.tensor(n).unwrap())).collect();
        std::fs::write(dir.join(&file), safetensors::tensor::serialize(views, None).unwrap())
            .unwrap();
        for n in part {
            map.insert(n.clone(), file.clone().into());
        }
    }
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::json!({ "metadata": {}, "weight_map": map }).to_string(),
    )
    .unwrap();
    let (from_shards, whole) = (dir.join("shards.webclip"), dir.join("whole.webclip"));
    convert(dir.to_str().unwrap(), "q8", &from_shards);
    convert(&src, "q8", &whole);
    assert!(
        std::fs::read(&from_shards).unwrap() == std::fs::read(&whole).unwrap(),
        "sharded and single-file checkpoints convert to different files"
    );
}

#[test]
fn bad_conversions_and_model_files_are_named() {
    let dir = temp_dir("bad-convert");
    // Only a PyTorch pickle.
    let bin = dir.join("bin-only");
    std::fs::create_dir_all(&bin).unwrap();
    for f in ["config.json", "tokenizer.json", "preprocessor_config.json"] {
        std::fs::copy(fixture(&format!("tiny-clip/{f}")), bin.join(f)).unwrap();
    }
    std::fs::write(bin.join("pytorch_model.bin"), b"not read").unwrap();
    let out = dir.join("out.webclip");
    expect_error(
        &["convert", "--model", bin.to_str().unwrap(), "-o", out.to_str().unwrap()],
        "holds only pytorch_model.bin",
    );
    // A truncated checkpoint: its last tensors lie past the end of the file.
    let truncated = model_copy("convert-truncated");
    let weights = truncated.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 100]).unwrap();
    // Converting and loading it are refused by the same check, before anything is read.
    let message = format!(
        "{}: is truncated: {} bytes, its header describes {}",
        weights.display(),
        bytes.len() - 100,
        bytes.len()
    );
    expect_error(
        &["convert", "--model", truncated.to_str().unwrap(), "-o", out.to_str().unwrap()],
        &message,
    );
    expect_error(&["embed-text", "--model", truncated.to_str().unwrap(), "hi"], &message);
    assert!(
        !out.exists() && !out.with_extension("partial").exists(),
        "a failed conversion leaves no file"
    );
    expect_error(
        &[
            "convert",
            "--model",
            &fixture("tiny-clip"),
            "--quant",
            "q3",
            "-o",
            out.to_str().unwrap(),
        ],
        "unknown weight format \"q3\"",
    );
    // A checkpoint's safetensors given where a model file is expected.
    expect_error(
        &["embed-text", "--model", &fixture("tiny-clip/model.safetensors"), "hi"],
        "not a webclip model file",
    );
    // A model file whose matrix has the wrong packed shape for its config.
    let file = dir.join("tiny-q8.webclip");
    convert(&fixture("tiny-clip"), "q8", &file);
    let bytes = std::fs::read(&file).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let views: Vec<(String, TensorView)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            let shape = if n == "visual_projection.weight" {
                vec![v.shape().iter().product::<usize>()]
            } else {
                v.shape().to_vec()
            };
            (n, TensorView::new(v.dtype(), shape, v.data()).unwrap())
        })
        .collect();
    let broken = dir.join("broken.webclip");
    std::fs::write(
        &broken,
        safetensors::tensor::serialize(views, meta.metadata().clone()).unwrap(),
    )
    .unwrap();
    expect_error(
        &["embed-text", "--model", broken.to_str().unwrap(), "hi"],
        "the config implies [16, 24, 4] (a q8 matrix [24, 44])",
    );
}

/// `webclip heatmap --json` gives transformers' float64 ClearCLIP maps
/// (`tools/make_heatmap_fixtures.py`; bounds of `tests/common/heatmaps.rs`), and
/// `-o` a PNG of the picture's size; a resolution past the model's is refused.
#[test]
fn heatmap_json_matches_transformers_and_draws_an_overlay() {
    let model = fixture("tiny-clip");
    let listing = fixture_json("tiny-clip/expected/heatmaps.json");
    let index = listing["cases"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["image"] == "chelsea.png" && c["resolution"] == 84)
        .unwrap();
    let overlay = std::env::temp_dir().join(format!("webclip-heatmap-{}.png", std::process::id()));
    let overlay_arg = overlay.display().to_string();
    let mut args = vec!["heatmap", "--json", "--engine", "cpu", "--model", &model];
    let chelsea = fixture("images/chelsea.png");
    args.extend([
        chelsea.as_str(),
        "--resolution",
        "84",
        "--template",
        "a photo of {}.",
        "-o",
        &overlay_arg,
    ]);
    for label in listing["labels"].as_array().unwrap() {
        args.extend(["--label", label.as_str().unwrap()]);
    }
    let (code, out, err) = webclip(&args);
    assert_eq!(code, 0, "{err}");
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((got["rows"].as_u64(), got["cols"].as_u64()), (Some(12), Some(12)));
    for (key, file, bound) in [("maps", "probs", 1.5e-5), ("cosines", "cosines", 2e-6)] {
        let path = fixture(&format!("tiny-clip/expected/heatmap_{index}_{file}.npy"));
        let want = webclip::npy::parse(&std::fs::read(path).unwrap(), file).unwrap().rows();
        for (l, row) in got[key].as_array().unwrap().iter().enumerate() {
            for (p, v) in row.as_array().unwrap().iter().enumerate() {
                let err = (v.as_f64().unwrap() - want[l][p]).abs();
                assert!(err <= bound, "{key} of label {l}, cell {p}: off by {err}");
            }
        }
    }
    assert!(got["descriptions"][0].as_str().unwrap().starts_with("strongest in the "));
    let png = std::fs::read(&overlay).unwrap();
    std::fs::remove_file(&overlay).ok();
    let picture = webclip::image::decode(&png, "overlay").unwrap();
    assert_eq!((picture.width, picture.height), (451, 300), "the overlay is the picture's size");
    expect_error(
        &["heatmap", "--model", &model, &chelsea, "--label", "a cat", "--resolution", "5000"],
        "a heatmap resolution of 5000 px is more than this model's largest",
    );
}
