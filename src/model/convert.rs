//! `webclip convert`: a Hugging Face CLIP directory (fp32, fp16 or bf16; one
//! `model.safetensors` or shards listed in `model.safetensors.index.json`) to
//! one webclip model file (`model_file.rs`). It streams: each tensor is read,
//! packed and written before the next is read, so at most one tensor (as f32,
//! plus its packed copy) is in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::ops::{PackedWeight, WeightFormat};

use super::config::ClipConfig;
use super::files::{ModelTexts, FILE_NAMES};
use super::model_file::{is_matrix, Plan};
use super::weights::{self, check_finite, matrix_dims, to_f32, FileSource, Header, TensorSource};

/// What one conversion did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Conversion {
    pub weights: &'static str,
    pub tensors: usize,
    pub input_bytes: u64,
    pub output_bytes: u64,
    /// The most bytes one source tensor took as f32: the converter's working set.
    pub largest_tensor_f32_bytes: usize,
}

/// One tensor of the source checkpoint: where its bytes are.
struct Source {
    dtype: Dtype,
    shape: Vec<usize>,
    shard: usize,
    /// From the start of the shard file.
    offset: u64,
    len: usize,
}

/// The checkpoint's shard files: `model.safetensors`, or those the index names.
fn shard_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join(FILE_NAMES[1]);
    if single.is_file() {
        return Ok(vec![single]);
    }
    let index_path = dir.join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index_path).map_err(|_| {
        let bin = dir.join("pytorch_model.bin").is_file();
        Error::file(
            dir.display(),
            if bin {
                "holds only pytorch_model.bin: save it as safetensors first (transformers: model.save_pretrained(dir))"
            } else {
                "has neither model.safetensors nor model.safetensors.index.json"
            },
        )
    })?;
    let index: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::file(index_path.display(), e))?;
    let map = index["weight_map"]
        .as_object()
        .ok_or_else(|| Error::file(index_path.display(), "has no weight_map"))?;
    let mut files: Vec<String> =
        map.values().filter_map(|v| v.as_str().map(str::to_string)).collect();
    files.sort();
    files.dedup();
    for f in &files {
        if f.contains('/') || f.contains('\\') || f.starts_with('.') {
            return Err(Error::file(
                index_path.display(),
                format!("names shard {f:?}, which is not a file beside it"),
            ));
        }
    }
    Ok(files.into_iter().map(|f| dir.join(f)).collect())
}

/// Opens every shard, reads its header (only the header) and checks each tensor lies inside its file.
fn index(paths: &[PathBuf]) -> Result<(Vec<FileSource>, BTreeMap<String, Source>, u64)> {
    let (mut files, mut tensors, mut total) = (Vec::new(), BTreeMap::new(), 0);
    for (shard, path) in paths.iter().enumerate() {
        let file = FileSource::open(path)?;
        let (source, file_len) = (file.name().to_string(), file.len().unwrap_or(0));
        total += file_len;
        // FileSource reads are synchronous: the future is ready at once.
        let header = pollster::block_on(Header::read(&file))?;
        if header.stored_format(&source)?.is_some() {
            return Err(Error::file(&source, "is already a webclip model file"));
        }
        for (name, info) in header.metadata.tensors() {
            let len = info.data_offsets.1.saturating_sub(info.data_offsets.0);
            let expected = info.shape.iter().product::<usize>() * info.dtype.bitsize() / 8;
            let offset = header.data_start + info.data_offsets.0 as u64;
            if len != expected || header.data_start + info.data_offsets.1 as u64 > file_len {
                return Err(Error::tensor(&name, format!("in {source}: {len} bytes at {:?} for {:?} {:?} in a file of {file_len} bytes", info.data_offsets, info.dtype, info.shape)));
            }
            tensors.insert(
                name,
                Source { dtype: info.dtype, shape: info.shape.clone(), shard, offset, len },
            );
        }
        files.push(file);
    }
    Ok((files, tensors, total))
}

/// Converts the checkpoint in `dir` to a webclip model file at `out` (written
/// beside it under a temporary name, then renamed: a failed conversion leaves
/// no partial file). `source` is recorded as where it came from. Every tensor
/// the config implies must be there with its shape, and nothing else.
pub fn convert(dir: &Path, format: WeightFormat, out: &Path, source: &str) -> Result<Conversion> {
    let texts = ModelTexts::from_dir(dir)?;
    let plan = Plan::new(&texts, format, source)?;
    let config = ClipConfig::from_json(&texts.config)?;
    let paths = shard_paths(dir)?;
    let (shards, mut tensors, input_bytes) = index(&paths)?;
    tensors.retain(|name, _| !name.ends_with("position_ids"));
    let expected = weights::expected(&config);
    for e in &expected {
        let t = tensors
            .get(&e.name)
            .ok_or_else(|| Error::tensor(&e.name, format!("missing from {}", dir.display())))?;
        // logit_scale: some exports store it as [1].
        if t.shape != e.shape && !(e.name == "logit_scale" && t.shape == [1]) {
            return Err(Error::tensor(
                &e.name,
                format!("has shape {:?}, config.json implies {:?}", t.shape, e.shape),
            ));
        }
    }
    if let Some(extra) = tensors.keys().find(|name| !expected.iter().any(|e| &e.name == *name)) {
        return Err(Error::tensor(extra, "is in the checkpoint but not described by config.json (wrong num_hidden_layers, or not a CLIP checkpoint?)"));
    }

    let partial = out.with_extension("partial");
    let written = (|| -> Result<Conversion> {
        let fail = |e: std::io::Error| Error::file(partial.display(), e);
        let mut w =
            std::io::BufWriter::with_capacity(1 << 20, File::create(&partial).map_err(fail)?);
        w.write_all(&plan.header).map_err(fail)?;
        let mut largest = 0;
        // In file order: a matrix's scales follow its data, written with it.
        for e in plan.names().filter_map(|name| expected.iter().find(|e| e.name == name)) {
            let t = &tensors[&e.name];
            let bytes = pollster::block_on(shards[t.shard].read(t.offset, t.len))?;
            let values = to_f32(&e.name, t.dtype, &bytes)?;
            drop(bytes);
            check_finite(&e.name, &t.shape, 0, &values, shards[t.shard].name())?;
            largest = largest.max(values.len() * 4);
            if is_matrix(&e.name) {
                let (n, k) = matrix_dims(&e.shape);
                let packed = PackedWeight::pack(format, &values, n, k);
                w.write_all(packed.data_bytes()).map_err(fail)?;
                w.write_all(packed.scale_bytes()).map_err(fail)?;
            } else {
                w.write_all(bytemuck::cast_slice(&values)).map_err(fail)?;
            }
        }
        w.flush().map_err(fail)?;
        let output_bytes = w.get_ref().metadata().map_err(fail)?.len();
        if output_bytes != plan.len {
            return Err(Error::file(
                partial.display(),
                format!("{output_bytes} bytes written, {} planned", plan.len),
            ));
        }
        Ok(Conversion {
            weights: format.name(),
            tensors: expected.len(),
            input_bytes,
            output_bytes,
            largest_tensor_f32_bytes: largest,
        })
    })();
    match written {
        Ok(done) => {
            std::fs::rename(&partial, out).map_err(|e| Error::file(out.display(), e))?;
            Ok(done)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}
