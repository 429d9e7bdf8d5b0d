//! The one check of a weights file against its config: every tensor the
//! schema implies is there with its dtype, shape and byte range, inside its
//! file, and nothing else is, before a single tensor is read. Loading
//! (`weights.rs`) and `webclip convert` (over a checkpoint's shards) both go
//! through [`Table::check`], so each message below exists once.

use std::collections::{BTreeSet, HashMap};

use safetensors::tensor::TensorInfo;
use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::ops::WeightFormat;

use super::config::{ClipConfig, Family};
use super::header::Header;
use super::model_file;
use super::precision;
use super::reader::TensorSource;
use super::schema::{self, Expected, Kind};

/// Where one tensor's bytes are.
#[derive(Debug)]
pub struct Stored {
    /// Which of the checked files holds it.
    pub file: usize,
    /// As the header claims it (checked by [`Table::check`]).
    pub info: TensorInfo,
    /// Where its file's data starts.
    pub data_start: u64,
}

impl Stored {
    /// Absolute offset of the first byte (saturated: only checked values are read).
    pub fn start(&self) -> u64 {
        self.data_start.saturating_add(self.info.data_offsets.0 as u64)
    }
    /// Absolute offset past the last byte.
    pub fn end(&self) -> u64 {
        self.data_start.saturating_add(self.info.data_offsets.1 as u64)
    }
    /// Its length in bytes; `None` for a backwards range.
    pub fn byte_len(&self) -> Option<usize> {
        self.info.data_offsets.1.checked_sub(self.info.data_offsets.0)
    }
}

/// The checked tensors of one weights file (or a checkpoint's shards).
#[derive(Debug)]
pub struct Table {
    /// Every stored tensor, by name; a model file's scales included.
    pub tensors: HashMap<String, Stored>,
    /// What the config implies, by name.
    pub expected: HashMap<String, Expected>,
    /// A webclip model file: matrices are stored packed in the format asked for.
    pub packed: bool,
    /// A model file's matrices by name: the format each is packed in
    /// ([`precision::matrix_format`], or the file's own in a q4 file written
    /// before q4 kept some matrices in q8).
    pub formats: HashMap<String, WeightFormat>,
    /// The model's family, which [`precision::matrix_format`] takes.
    pub family: Family,
}

impl Table {
    /// Checks `files` (each with its header) against what `config` implies,
    /// matrices to be read in `format`.
    pub fn check(
        files: &[(&dyn TensorSource, Header)],
        config: &ClipConfig,
        format: WeightFormat,
    ) -> Result<Table> {
        let packed = stored_format(files, format)?.is_some();
        let mut tensors: HashMap<String, Stored> = HashMap::new();
        for (file, (source, header)) in files.iter().enumerate() {
            let name = source.name();
            let mut end = header.data_start;
            for (tensor, info) in header.metadata.tensors() {
                let stored = Stored { file, info: info.clone(), data_start: header.data_start };
                end = end.max(stored.end());
                if let Some(other) = tensors.get(&tensor) {
                    let first = files[other.file].0.name();
                    return Err(Error::tensor(&tensor, format!("is in both {first} and {name}")));
                }
                tensors.insert(tensor, stored);
            }
            // The data's extent: a file cut short is reported now, not halfway through the upload.
            if let Some(len) = source.len().filter(|&len| len < end) {
                return Err(Error::file(
                    name,
                    format!("is truncated: {len} bytes, its header describes {end}"),
                ));
            }
        }
        let mut table = Table {
            tensors,
            expected: HashMap::new(),
            packed,
            formats: HashMap::new(),
            family: config.family,
        };
        let mut planned = BTreeSet::new();
        let mut expected = HashMap::new();
        for e in schema::expected(config) {
            let matrix_format = table.matrix_format(&e, format);
            if packed && e.kind == Kind::Matrix {
                table.formats.insert(e.name.clone(), matrix_format);
            }
            for (tensor, dtypes, shape) in table.stored_as(&e, matrix_format) {
                let info = table.tensors.get(&tensor).ok_or_else(|| {
                    let names: Vec<&str> = files.iter().map(|(s, _)| s.name()).collect();
                    Error::tensor(&tensor, format!("missing from {}", names.join(", ")))
                })?;
                let name = files[info.file].0.name();
                let matrix = if packed && e.kind == Kind::Matrix {
                    format!(" (a {} matrix {:?})", matrix_format.name(), e.shape)
                } else {
                    String::new()
                };
                let info = &info.info;
                if !schema::shape_fits(&e.name, &shape, &info.shape) {
                    return Err(Error::tensor(
                        &tensor,
                        format!(
                            "has shape {:?} in {name}, the config implies {shape:?}{matrix}",
                            info.shape
                        ),
                    ));
                }
                if !dtypes.contains(&info.dtype) {
                    let allowed: Vec<String> = dtypes.iter().map(|d| format!("{d:?}")).collect();
                    return Err(Error::tensor(
                        &tensor,
                        format!(
                            "has dtype {:?} in {name}; expected {}{matrix}",
                            info.dtype,
                            allowed.join(", ")
                        ),
                    ));
                }
                let len = info.data_offsets.1.checked_sub(info.data_offsets.0);
                if len != Some(info.shape.iter().product::<usize>() * info.dtype.bitsize() / 8) {
                    return Err(Error::tensor(
                        &tensor,
                        format!(
                            "in {name}: its byte range {:?} does not fit {:?} {:?}",
                            info.data_offsets, info.dtype, info.shape
                        ),
                    ));
                }
                planned.insert(tensor);
            }
            expected.insert(e.name.clone(), e);
        }
        let extra = table
            .tensors
            .iter()
            .filter(|(n, _)| !planned.contains(*n) && !schema::is_ignored(n))
            .min_by_key(|(n, _)| *n);
        if let Some((extra, info)) = extra {
            let name = files[info.file].0.name();
            return Err(Error::tensor(
                extra,
                format!(
                    "is in {name} but not described by config.json (wrong num_hidden_layers, or \
                     not a CLIP checkpoint?)"
                ),
            ));
        }
        Ok(Table { expected, ..table })
    }

    /// The format a model file's matrix `e` is packed in: the one
    /// [`precision::matrix_format`] gives a file in `format`, or `format` itself
    /// where the file stores it so (a q4 file from before mixed precision); the
    /// stored dtype tells them apart.
    fn matrix_format(&self, e: &Expected, format: WeightFormat) -> WeightFormat {
        let mixed = precision::matrix_format(format, self.family, &e.name);
        let dtype_of = |f: WeightFormat| {
            let (n, k) = schema::matrix_dims(&e.shape);
            model_file::packed_layout(f, n, k).0
        };
        match self.tensors.get(&e.name) {
            Some(t) if mixed != format && t.info.dtype == dtype_of(format) => format,
            _ => mixed,
        }
    }

    /// The stored tensors of `e` (a matrix packed in `format`): name, accepted dtypes, shape.
    fn stored_as(
        &self,
        e: &Expected,
        format: WeightFormat,
    ) -> Vec<(String, Vec<Dtype>, Vec<usize>)> {
        if !self.packed {
            return vec![(
                e.name.clone(),
                vec![Dtype::F32, Dtype::F16, Dtype::BF16],
                e.shape.clone(),
            )];
        }
        if e.kind == Kind::Small {
            return vec![(e.name.clone(), vec![Dtype::F32], e.shape.clone())];
        }
        let (n, k) = schema::matrix_dims(&e.shape);
        let (dtype, shape, scales) = model_file::packed_layout(format, n, k);
        let mut out = vec![(e.name.clone(), vec![dtype], shape)];
        if let Some(shape) = scales {
            out.push((model_file::scales_name(&e.name), vec![Dtype::F16], shape));
        }
        out
    }
}

/// The weight format the files store (`None`: a checkpoint), which must be
/// the same in every file and, for a model file, the one asked for.
fn stored_format(
    files: &[(&dyn TensorSource, Header)],
    format: WeightFormat,
) -> Result<Option<WeightFormat>> {
    let mut stored = None;
    for (i, (source, header)) in files.iter().enumerate() {
        let this = header.stored_format(source.name())?;
        if i > 0 && this != stored {
            let what = |f: Option<WeightFormat>| f.map_or("a checkpoint", |f| f.name());
            return Err(Error::file(
                source.name(),
                format!("is {}, where {} is {}", what(this), files[0].0.name(), what(stored)),
            ));
        }
        stored = this;
    }
    if let Some(stored) = stored.filter(|&f| f != format) {
        return Err(Error::file(
            files[0].0.name(),
            format!(
                "holds {} weights, not {}: convert the checkpoint again with --quant {}",
                stored.name(),
                format.name(),
                format.name()
            ),
        ));
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::super::header;
    use super::super::reader::{ready, BytesSource};
    use super::*;

    const MICRO: &str = include_str!("../../fuzz/seeds/config/micro-config.json");

    /// A checkpoint of zeros holding the tensors of `config` that `keep` keeps.
    fn checkpoint(config: &ClipConfig, keep: impl Fn(&str) -> bool) -> Vec<u8> {
        let tensors = schema::expected(config)
            .into_iter()
            .filter(|e| keep(&e.name))
            .map(|e| (e.name, Dtype::F32, e.shape))
            .collect();
        let (mut bytes, offsets) = header::write(Default::default(), tensors).unwrap();
        let data: usize = offsets.iter().map(|t| t.2).sum();
        bytes.resize(bytes.len() + data, 0);
        bytes
    }

    fn check(shards: &[Vec<u8>], config: &ClipConfig) -> Result<Table> {
        let sources: Vec<BytesSource> = shards
            .iter()
            .enumerate()
            .map(|(i, bytes)| BytesSource { bytes, name: format!("shard{i}") })
            .collect();
        let files: Vec<(&dyn TensorSource, Header)> = sources
            .iter()
            .map(|s| (s as &dyn TensorSource, ready(Header::read(s)).unwrap()))
            .collect();
        Table::check(&files, config, WeightFormat::F32)
    }

    #[test]
    fn shards_are_checked_as_one_file() {
        let config = ClipConfig::from_json(MICRO).unwrap();
        let text = |n: &str| n.starts_with("text_");
        let (a, b) = (checkpoint(&config, text), checkpoint(&config, |n| !text(n)));
        let table = check(&[a.clone(), b.clone()], &config).unwrap();
        assert_eq!(table.expected.len(), schema::expected(&config).len());
        assert_eq!(table.tensors["logit_scale"].file, 1);
        let err = check(std::slice::from_ref(&a), &config).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "tensor vision_model.embeddings.patch_embedding.weight: missing from shard0"
            ),
            "{err}"
        );
        let err = check(&[a.clone(), b, a], &config).unwrap_err().to_string();
        assert!(err.contains(": is in both shard0 and shard2"), "{err}");
    }
}
