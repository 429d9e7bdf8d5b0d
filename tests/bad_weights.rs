//! Weights files broken every way a user meets them (an empty or cut-off
//! download, an HTML error page, a Git LFS pointer, a corrupt header, a
//! wrong dtype, an extra tensor, an old model file, NaN weights): each is
//! one line naming the file and what is wrong, and a non-zero exit; never a
//! panic, and never NaN probabilities later.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

mod cli_support;
use cli_support::*;

/// A tensor as `rewrite` hands it to its edit: dtype, shape, bytes.
type Tensor = (Dtype, Vec<usize>, Vec<u8>);

/// Rewrites the safetensors file at `path`: `edit` sees every tensor by name
/// and may change it in place; `add` tensors are appended; `metadata` edits
/// the header's metadata.
fn rewrite(
    path: &Path,
    edit: impl Fn(&str, &mut Tensor),
    add: Vec<(String, Tensor)>,
    metadata: impl Fn(&mut HashMap<String, String>),
) {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let mut tensors: Vec<(String, Tensor)> = st
        .tensors()
        .into_iter()
        .map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
        .collect();
    for (name, t) in &mut tensors {
        edit(name, t);
    }
    tensors.extend(add);
    let mut meta = header.metadata().clone().unwrap_or_default();
    metadata(&mut meta);
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(n, (d, s, b))| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    std::fs::write(
        path,
        safetensors::tensor::serialize(views, (!meta.is_empty()).then_some(meta)).unwrap(),
    )
    .unwrap();
}

fn embed_text_error(model: &Path, needle: &str) {
    expect_error(&["embed-text", "--model", model.to_str().unwrap(), "a photo of a cat"], needle);
}

/// Loading and converting `model` both fail with `needle`: they share one check.
fn load_and_convert_error(model: &Path, needle: &str) {
    embed_text_error(model, needle);
    let out = model.join("out.webclip");
    expect_error(
        &["convert", "--model", model.to_str().unwrap(), "-o", out.to_str().unwrap()],
        needle,
    );
}

#[test]
fn empty_and_cut_off_files_say_so() {
    let dir = model_copy("cut");
    let weights = dir.join("model.safetensors");
    let name = weights.display().to_string();
    let whole = std::fs::read(&weights).unwrap();
    let header_end = 8 + u64::from_le_bytes(whole[..8].try_into().unwrap()) as usize;
    // Cut inside the length, inside the header, right after it, in the data, one byte short.
    let cuts =
        [(0, "is empty (0 bytes)".to_string()), (5, "not a safetensors file: only 5 bytes".into())]
            .into_iter()
            .chain([20, header_end - 1].map(|at| {
                (
                    at,
                    format!(
                        "is truncated: its header claims {} bytes but the file has {at}",
                        header_end - 8
                    ),
                )
            }))
            .chain([header_end, header_end + 1000, whole.len() - 1].map(|at| {
                (at, format!("is truncated: {at} bytes, its header describes {}", whole.len()))
            }));
    for (at, message) in cuts {
        std::fs::write(&weights, &whole[..at]).unwrap();
        embed_text_error(&dir, &format!("{name}: {message}"));
    }
}

#[test]
fn pages_and_pointers_served_instead_of_weights_are_named() {
    let dir = model_copy("not-weights");
    let weights = dir.join("model.safetensors");
    let cases: [(&[u8], &str); 5] = [
        (b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n", "is an HTML page"),
        (b"\n  <html><body>Sign in to continue</body></html>", "is an HTML page"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 605247071\n", "is a Git LFS pointer (the repository was cloned without its large files: run `git lfs pull`)"),
        (br#"{"error":"Repository not found"}"#, "is JSON (a server's error message"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00archive/data.pkl", "is a zip archive (a PyTorch .bin checkpoint?"),
    ];
    for (bytes, message) in cases {
        std::fs::write(&weights, bytes).unwrap();
        embed_text_error(&dir, &format!("{}: {message}", weights.display()));
    }
}

#[test]
fn corrupt_headers_are_refused_before_reading_them() {
    let dir = model_copy("header");
    let weights = dir.join("model.safetensors");
    // A length of 2^40: refused from the first 8 bytes, nothing allocated.
    std::fs::write(&weights, [&(1u64 << 40).to_le_bytes()[..], &[b' '; 64]].concat()).unwrap();
    embed_text_error(
        &dir,
        "its header claims 1099511627776 bytes, more than the 100000000 allowed",
    );
    // A length that fits, over JSON that does not parse.
    let json = br#"{"logit_scale": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]"#;
    std::fs::write(&weights, [&(json.len() as u64).to_le_bytes()[..], json, &[0; 4]].concat())
        .unwrap();
    embed_text_error(&dir, "not a safetensors file: its header is not valid");
}

#[test]
fn wrong_dtype_and_extra_tensors_are_named() {
    let dir = model_copy("dtype");
    let weights = dir.join("model.safetensors");
    let original = std::fs::read(&weights).unwrap();
    // Same bytes, read as integers: refused, not reinterpreted.
    rewrite(
        &weights,
        |n, t| {
            if n == "text_model.final_layer_norm.weight" {
                t.0 = Dtype::I32
            }
        },
        vec![],
        |_| {},
    );
    load_and_convert_error(
        &dir,
        &format!(
            "tensor text_model.final_layer_norm.weight: has dtype I32 in {}; expected F32, F16, BF16",
            weights.display()
        ),
    );
    // A third text layer that config.json (two layers) does not describe.
    std::fs::write(&weights, &original).unwrap();
    let extra = (
        "text_model.encoder.layers.2.mlp.fc1.bias".to_string(),
        (Dtype::F32, vec![52], vec![0; 52 * 4]),
    );
    rewrite(&weights, |_, _| {}, vec![extra], |_| {});
    load_and_convert_error(
        &dir,
        &format!(
            "tensor text_model.encoder.layers.2.mlp.fc1.bias: is in {} but not described by \
             config.json",
            weights.display()
        ),
    );
}

#[test]
fn a_model_file_of_another_version_is_refused() {
    let dir = temp_dir("version");
    let file = dir.join("tiny-q8.webclip");
    convert(&fixture("tiny-clip"), "q8", &file);
    rewrite(&file, |_, _| {}, vec![], |m| _ = m.insert("webclip.version".into(), "99".into()));
    embed_text_error(&file, "is a webclip model file of version 99; this webclip reads version 1 (convert the checkpoint again)");
}

/// Sets element `at` of the named tensor to `value`, in its own dtype.
fn poison(path: &Path, tensor: &'static str, at: usize, value: f32) {
    rewrite(
        path,
        |n, (dtype, _, data)| {
            if n == tensor {
                match dtype {
                    Dtype::F32 => data[4 * at..4 * at + 4].copy_from_slice(&value.to_le_bytes()),
                    Dtype::F16 => data[2 * at..2 * at + 2]
                        .copy_from_slice(&half::f16::from_f32(value).to_le_bytes()),
                    other => panic!("{tensor} is {other:?}"),
                }
            }
        },
        vec![],
        |_| {},
    );
}

#[test]
fn non_finite_weights_are_reported_at_load() {
    // A checkpoint: element 50 of the text fc1 [52, 16] weight is row 3, column 2.
    let dir = model_copy("nan");
    let weights = dir.join("model.safetensors");
    poison(&weights, "text_model.encoder.layers.1.mlp.fc1.weight", 50, f32::NAN);
    let message = format!("tensor text_model.encoder.layers.1.mlp.fc1.weight: holds NaN at [3, 2] in {}: a broken checkpoint", weights.display());
    embed_text_error(&dir, &message);
    let out = temp_dir("nan-convert").join("out.webclip");
    expect_error(
        &[
            "convert",
            "--model",
            dir.to_str().unwrap(),
            "--quant",
            "q4",
            "-o",
            out.to_str().unwrap(),
        ],
        "holds NaN at [3, 2]",
    );
    // An f16 checkpoint, a small tensor.
    let dir = temp_dir("inf");
    for f in ["config.json", "model.safetensors", "tokenizer.json", "preprocessor_config.json"] {
        std::fs::copy(fixture(&format!("tiny-clip-fp16-gelu/{f}")), dir.join(f)).unwrap();
    }
    poison(
        &dir.join("model.safetensors"),
        "text_model.final_layer_norm.bias",
        3,
        f32::NEG_INFINITY,
    );
    embed_text_error(&dir, "tensor text_model.final_layer_norm.bias: holds -inf at [3]");
    // Model files, indexed as stored: a packed f16 matrix [rows, columns, 4] and q8 scales [blocks, columns].
    let files = temp_dir("nan-files");
    for (quant, tensor, index) in [
        ("f16", "text_projection.weight", "[0, 0, 1]"),
        ("q8", "text_projection.weight.scales", "[0, 1]"),
    ] {
        let file = files.join(format!("tiny-{quant}.webclip"));
        convert(&fixture("tiny-clip"), quant, &file);
        poison(&file, tensor, 1, f32::INFINITY);
        embed_text_error(
            &file,
            &format!("tensor {tensor}: holds inf at {index} in {}", file.display()),
        );
    }
}
