//! `webclip convert`: a Hugging Face CLIP directory (fp32, fp16 or bf16; one
//! `model.safetensors` or shards listed in `model.safetensors.index.json`) to
//! one webclip model file (`model_file.rs`). It is a load without a GPU: the
//! shards are checked by the same [`Weights`] checker a load uses (so a bad
//! checkpoint gets the same message either way), then every tensor is read,
//! packed and recorded as a load records it, one at a time (a matrix as f32
//! 8 MB of rows at a time, plus its packed copy).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::ops::WeightFormat;

use super::config::ClipConfig;
use super::header::Header;
use super::model_file::Plan;
use super::reader::{ready, FileSink, FileSource, TensorSource};
use super::schema::{expected, Kind};
use super::texts::{ModelTexts, FILE_NAMES};
use super::weights::Weights;

/// What one conversion did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Conversion {
    pub weights: &'static str,
    pub tensors: usize,
    pub input_bytes: u64,
    pub output_bytes: u64,
    /// The most bytes one source tensor takes as f32 (a matrix is converted
    /// a slice of rows at a time: the working set is at most 8 MB of it).
    pub largest_tensor_f32_bytes: usize,
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

/// Converts the checkpoint in `dir` to a webclip model file at `out` (written
/// beside it under a temporary name, then renamed: a failed conversion leaves
/// no partial file). `source` is recorded as where it came from. Every tensor
/// the config implies must be there with its shape, and nothing else.
pub fn convert(dir: &Path, format: WeightFormat, out: &Path, source: &str) -> Result<Conversion> {
    let texts = ModelTexts::from_dir(dir)?;
    let plan = Plan::new(&texts, format, source)?;
    let config = ClipConfig::from_json(&texts.config)?;
    let shards =
        shard_paths(dir)?.iter().map(|p| FileSource::open(p)).collect::<Result<Vec<_>>>()?;
    let mut files: Vec<(&dyn TensorSource, Header)> = Vec::new();
    for shard in &shards {
        // FileSource reads are synchronous: each future is ready at once.
        let header = ready(Header::read(shard))?;
        if header.stored_format(shard.name())?.is_some() {
            return Err(Error::file(shard.name(), "is already a webclip model file"));
        }
        files.push((shard, header));
    }
    let weights = Weights::check_files(files, &config, format)?;
    let partial = out.with_extension("partial");
    let written = FileSink::create(&partial).and_then(|sink| {
        let planned = plan.len;
        let weights = weights.recording(&sink, plan);
        let mut largest = 0;
        // In file order: a matrix's scales follow its data, recorded with it.
        let mut tensors = expected(&config);
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        for e in &tensors {
            match e.kind {
                Kind::Small => _ = ready(weights.get(&e.name))?,
                Kind::Matrix => _ = ready(weights.matrix(&e.name))?,
            }
            largest = largest.max(4 * e.shape.iter().product::<usize>());
        }
        ready(weights.finish_recording())?;
        let output_bytes = sink.finish()?;
        if output_bytes != planned {
            return Err(Error::Internal(format!(
                "{}: {output_bytes} bytes written, {planned} planned",
                partial.display()
            )));
        }
        Ok(Conversion {
            weights: format.name(),
            tensors: tensors.len(),
            input_bytes: shards.iter().filter_map(|s| s.len()).sum(),
            output_bytes,
            largest_tensor_f32_bytes: largest,
        })
    });
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
