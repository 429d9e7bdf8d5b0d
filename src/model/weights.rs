//! The model's tensors, streamed: the safetensors header is read first and
//! every tensor the config implies (`schema.rs`) is checked against it (name,
//! dtype, shape, byte range: `table.rs`) before anything is read or uploaded;
//! then each tensor is read on its own from a [`TensorSource`] (a file, HTTP
//! Range requests, a picked file, bytes in memory), converted, and dropped
//! once on the GPU. Small tensors come as f32 (fp16 and bf16 checkpoints
//! included), matrices packed in the GPU weight format. A load may record
//! what it read as a webclip model file ([`Weights::recording`]).

use std::collections::BTreeSet;

use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::ops::{PackedWeight, WeightFormat};

use super::config::ClipConfig;
use super::model_file::{self, Plan};
use super::precision;
use super::table::Table;

// Where these were defined before reader.rs, header.rs and schema.rs.
pub use super::header::Header;
#[cfg(not(target_arch = "wasm32"))]
pub use super::reader::FileSource;
pub use super::reader::{ByteSink, BytesSource, TensorSource};
pub use super::schema::{expected, matrix_dims, Expected, Kind};

/// A model file being written by a load ([`Weights::recording`]).
struct Recording<'a> {
    sink: &'a dyn ByteSink,
    plan: Plan,
    written: std::sync::Mutex<BTreeSet<String>>,
}

/// The checked tensors of one weights file (or a checkpoint's shards), read on demand.
pub struct Weights<'a> {
    files: Vec<&'a dyn TensorSource>,
    /// Where each tensor's bytes are, what the config implies.
    table: Table,
    /// The format [`Weights::matrix`] returns matrices in.
    pub format: WeightFormat,
    record: Option<Recording<'a>>,
    /// Bytes of several neighbouring tensors read at once ([`Weights::prefetch`]).
    window: std::sync::Mutex<Option<Window>>,
}

/// A span of one file, already read: `bytes` from `start`.
struct Window {
    file: usize,
    start: u64,
    bytes: Vec<u8>,
}

/// f32 bytes of a checkpoint's matrix converted and packed at a time.
const PACK_SLICE_BYTES: usize = 8 << 20;

/// The largest span [`Weights::prefetch`] reads at once (a ViT-L/14 layer in
/// f32 is 50 MB); a wider or sparser one is left to per-tensor reads.
const MAX_WINDOW_BYTES: u64 = 64 << 20;

impl<'a> Weights<'a> {
    /// Checks every tensor `config` implies against `header`, and that the
    /// header holds nothing else, before a single tensor is read.
    pub fn check(
        source: &'a dyn TensorSource,
        header: Header,
        config: &ClipConfig,
        format: WeightFormat,
    ) -> Result<Weights<'a>> {
        Weights::check_files(vec![(source, header)], config, format)
    }

    /// [`Weights::check`] over several files that together hold the tensors
    /// (a checkpoint saved in shards).
    pub fn check_files(
        files: Vec<(&'a dyn TensorSource, Header)>,
        config: &ClipConfig,
        format: WeightFormat,
    ) -> Result<Weights<'a>> {
        let table = Table::check(&files, config, format)?;
        let files = files.into_iter().map(|(source, _)| source).collect();
        Ok(Weights { files, table, format, record: None, window: Default::default() })
    }

    /// From now on, every tensor read is also written to `sink`, at its place
    /// in the model file `plan` lays out; [`Weights::finish_recording`] ends it.
    pub fn recording(self, sink: &'a dyn ByteSink, plan: Plan) -> Weights<'a> {
        Weights { record: Some(Recording { sink, plan, written: Default::default() }), ..self }
    }

    async fn save(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let Some(r) = &self.record else { return Ok(()) };
        let (offset, len) =
            r.plan.range(name).unwrap_or_else(|| panic!("{name} is not in the model file's plan"));
        assert_eq!(len, bytes.len(), "{name}: planned and packed sizes differ");
        r.sink.write(offset, bytes).await?;
        r.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_string());
        Ok(())
    }

    /// Writes the header of the model file being recorded, last, once every
    /// tensor is in: a file cut short by an error has no valid header.
    pub async fn finish_recording(&self) -> Result<()> {
        let Some(r) = &self.record else { return Ok(()) };
        let written = r.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        let planned = r.plan.names().count();
        if written != planned {
            return Err(Error::Internal(format!(
                "the model file being written has {written} of its {planned} tensors"
            )));
        }
        r.sink.write(0, &r.plan.header).await
    }

    fn planned(&self, name: &str, kind: Kind) -> &Expected {
        match self.table.expected.get(name) {
            Some(e) if e.kind == kind => e,
            _ => panic!("{name} is read as {kind:?} but schema::expected lists it otherwise"),
        }
    }

    /// Reads every tensor whose name starts with `prefix` (an encoder layer's:
    /// neighbours in the file, since safetensors files are sorted by name) in
    /// one read, which the next reads of them are served from; replaces the
    /// previous window. Over HTTP this is one Range request per layer instead
    /// of one per tensor, and no byte is fetched twice however the file
    /// orders a layer's tensors. `prefix` `""` just drops the window.
    pub async fn prefetch(&self, prefix: &str) -> Result<()> {
        *self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        let spans: Vec<(usize, u64, u64)> = self
            .table
            .tensors
            .iter()
            .filter(|(name, _)| !prefix.is_empty() && name.starts_with(prefix))
            .map(|(_, t)| (t.file, t.start(), t.end()))
            .collect();
        let (Some(start), Some(end)) =
            (spans.iter().map(|s| s.1).min(), spans.iter().map(|s| s.2).max())
        else {
            return Ok(());
        };
        let file = spans[0].0;
        let used: u64 = spans.iter().map(|(_, a, b)| b - a).sum();
        let one_file = spans.iter().all(|s| s.0 == file);
        if !one_file || end - start > MAX_WINDOW_BYTES || end - start > 2 * used {
            return Ok(());
        }
        let bytes = self.files[file].read(start, (end - start) as usize).await?;
        *self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Window { file, start, bytes });
        Ok(())
    }

    /// `out.len()` bytes at `offset` of `file`: from the window when it holds
    /// them, else from the file.
    async fn read_into(&self, file: usize, offset: u64, out: &mut [u8]) -> Result<()> {
        {
            let window = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let end = offset + out.len() as u64;
            if let Some(w) = window.as_ref().filter(|w| {
                w.file == file && offset >= w.start && end <= w.start + w.bytes.len() as u64
            }) {
                let at = (offset - w.start) as usize;
                out.copy_from_slice(&w.bytes[at..at + out.len()]);
                return Ok(());
            }
        }
        self.files[file].read_into(offset, out).await
    }

    /// A tensor's bytes into `out` (checked to have its length at load).
    async fn read_tensor_into(&self, name: &str, out: &mut [u8]) -> Result<()> {
        let t = &self.table.tensors[name];
        assert_eq!(Some(out.len()), t.byte_len(), "{name}: read into a buffer of another size");
        self.read_into(t.file, t.start(), out).await
    }

    /// A float tensor as f32; F32 data is read straight into the result.
    async fn floats(&self, name: &str) -> Result<Vec<f32>> {
        let t = &self.table.tensors[name];
        let count = t.byte_len().unwrap_or(0) / (t.info.dtype.bitsize() / 8);
        self.floats_at(name, 0, count).await
    }

    /// `count` values of a float tensor from value `first`, as f32.
    async fn floats_at(&self, name: &str, first: usize, count: usize) -> Result<Vec<f32>> {
        let t = &self.table.tensors[name];
        let (dtype, size) = (t.info.dtype, t.info.dtype.bitsize() / 8);
        let offset = t.start() + (first * size) as u64;
        let values = if dtype != Dtype::F32 {
            let mut bytes = vec![0; count * size];
            self.read_into(t.file, offset, &mut bytes).await?;
            to_f32(name, dtype, &bytes)?
        } else {
            let mut values = vec![0f32; count];
            self.read_into(t.file, offset, bytemuck::cast_slice_mut(&mut values)).await?;
            if cfg!(target_endian = "big") {
                values.iter_mut().for_each(|v| *v = f32::from_bits(u32::from_le(v.to_bits())));
            }
            values
        };
        check_finite(name, &t.info.shape, first, &values, self.files[t.file].name())?;
        Ok(values)
    }

    /// A small tensor as f32.
    pub async fn get(&self, name: &str) -> Result<Vec<f32>> {
        self.planned(name, Kind::Small);
        let values = self.floats(name).await?;
        // Little-endian targets only (wasm32, x86, ARM), as the GPU uploads assume.
        self.save(name, bytemuck::cast_slice(&values)).await?;
        Ok(values)
    }

    pub async fn scalar(&self, name: &str) -> Result<f32> {
        Ok(self.get(name).await?[0])
    }

    /// A matrix (`[n, k]`: the first dimension by the product of the rest), in
    /// [`Weights::format`] or, for a few of a q4 model's, q8 ([`precision`]).
    pub async fn matrix(&self, name: &str) -> Result<PackedWeight> {
        let (n, k) = matrix_dims(&self.planned(name, Kind::Matrix).shape);
        // The format a model file written now gives it; a file may store another.
        let written_now = precision::matrix_format(self.format, self.table.family, name);
        let format = self.table.formats.get(name).copied().unwrap_or(written_now);
        if self.record.is_some() && format != written_now {
            return Err(Error::tensor(name, format!("is stored in {}, where a {} model file written now keeps it in {}: convert the checkpoint again to cache it", format.name(), self.format.name(), written_now.name())));
        }
        let has_scales = model_file::packed_layout(format, n, k).2.is_some();
        let packed = if self.table.packed {
            // Read straight into the words and scales (little-endian targets), with no byte copy.
            let mut packed = PackedWeight::zeroed(format, n, k);
            self.read_tensor_into(name, bytemuck::cast_slice_mut(&mut packed.data)).await?;
            if has_scales {
                self.read_tensor_into(
                    &model_file::scales_name(name),
                    bytemuck::cast_slice_mut(&mut packed.scales),
                )
                .await?;
            }
            if let Some((part, value, at)) = packed.first_non_finite() {
                let stored =
                    if part == "scales" { model_file::scales_name(name) } else { name.to_string() };
                let t = &self.table.tensors[&stored];
                let file = self.files[t.file].name();
                return Err(non_finite(&stored, &t.info.shape, value, at, file));
            }
            packed
        } else {
            // Packed a slice of rows at a time: the packed matrix and PACK_SLICE_BYTES
            // of it in f32 are the most a load holds (the token table alone is 101 MB
            // in f32 for ViT-B/32, 26 MB in q8).
            let mut packed = PackedWeight::zeroed(format, n, k);
            let rows_per_slice = (PACK_SLICE_BYTES / (4 * k)).max(1);
            for first in (0..n).step_by(rows_per_slice) {
                let rows = rows_per_slice.min(n - first);
                packed.pack_rows(first, &self.floats_at(name, first * k, rows * k).await?);
            }
            packed
        };
        if self.record.is_some() {
            self.save(name, packed.data_bytes()).await?;
            if has_scales {
                self.save(&model_file::scales_name(name), packed.scale_bytes()).await?;
            }
        }
        Ok(packed)
    }
}

/// `values`, elements `first..` of tensor `name` of `shape` in `source`, must
/// be finite: a NaN or infinite weight is reported at load, where on the GPU
/// it would only show later as NaN probabilities.
pub fn check_finite(
    name: &str,
    shape: &[usize],
    first: usize,
    values: &[f32],
    source: &str,
) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(non_finite(name, shape, values[i], first + i, source)),
        None => Ok(()),
    }
}

fn non_finite(name: &str, shape: &[usize], value: f32, at: usize, source: &str) -> Error {
    Error::tensor(
        name,
        format!(
            "holds {value} at {:?} in {source}: a broken checkpoint (every weight must be finite)",
            unravel(at, shape)
        ),
    )
}

/// The index into a tensor of `shape` of its row-major element `at`.
fn unravel(mut at: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &d) in shape.iter().enumerate().rev() {
        index[i] = at % d.max(1);
        at /= d.max(1);
    }
    index
}

/// A float tensor's little-endian bytes as f32.
pub fn to_f32(name: &str, dtype: Dtype, data: &[u8]) -> Result<Vec<f32>> {
    Ok(match dtype {
        Dtype::F32 => {
            data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
        }
        Dtype::F16 => {
            data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
        }
        Dtype::BF16 => {
            data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
        }
        other => {
            return Err(Error::tensor(
                name,
                format!("has dtype {other:?}; only F32, F16 and BF16 are supported"),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_every_float_dtype() {
        let f16: Vec<u8> =
            [1.5f32, -2.0].iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
        let bf16: Vec<u8> =
            [0.25f32, 3.0].iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect();
        assert_eq!(to_f32("a", Dtype::F16, &f16).unwrap(), vec![1.5, -2.0]);
        assert_eq!(to_f32("b", Dtype::BF16, &bf16).unwrap(), vec![0.25, 3.0]);
        assert_eq!(to_f32("s", Dtype::F32, &7.0f32.to_le_bytes()).unwrap(), vec![7.0]);
        assert!(to_f32("i", Dtype::I64, &[0; 8])
            .unwrap_err()
            .to_string()
            .contains("tensor i: has dtype I64"));
    }
}
