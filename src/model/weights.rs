//! The model's tensors, streamed: the safetensors header is read first and
//! every tensor the config implies ([`expected`]) is checked against it (name,
//! dtype, shape, byte range) before anything is read or uploaded; then each
//! tensor is read on its own from a [`TensorSource`] (a file, HTTP Range
//! requests, a picked file, bytes in memory), converted, and dropped once on
//! the GPU. Small tensors come as f32 (fp16 and bf16 checkpoints included),
//! matrices packed in the GPU weight format.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::ops::{PackedWeight, WeightFormat};

use super::config::{ClipConfig, TowerConfig};
use super::model_file;

/// Byte ranges of a weights file, read asynchronously.
#[allow(clippy::len_without_is_empty)] // `len` may be unknown (None): emptiness is not a question it answers
pub trait TensorSource {
    /// `len` bytes at `offset`; an error if the file ends before.
    fn read(&self, offset: u64, len: usize) -> Pin<Box<dyn Future<Output = Result<Vec<u8>>> + '_>>;
    /// `out.len()` bytes at `offset`, straight into `out` (so an f32 tensor is
    /// read into its own vector, with no second copy).
    fn read_into<'b>(
        &'b self,
        offset: u64,
        out: &'b mut [u8],
    ) -> Pin<Box<dyn Future<Output = Result<()>> + 'b>> {
        Box::pin(async move {
            out.copy_from_slice(&self.read(offset, out.len()).await?);
            Ok(())
        })
    }
    /// The file's length, when known before reading it all (a truncated file
    /// is then reported before anything is read).
    fn len(&self) -> Option<u64>;
    /// How errors name the file.
    fn name(&self) -> &str;
}

/// A weights file already in memory.
pub struct BytesSource<'a> {
    pub bytes: &'a [u8],
    pub name: String,
}

impl BytesSource<'_> {
    /// `len` bytes at `offset`, or an error naming where the bytes end.
    fn range(&self, offset: u64, len: usize) -> Result<&[u8]> {
        let range = usize::try_from(offset)
            .ok()
            .and_then(|start| self.bytes.get(start..start.checked_add(len)?));
        range.ok_or_else(|| {
            Error::file(
                &self.name,
                format!("ends at {} bytes, before {len} bytes at {offset}", self.bytes.len()),
            )
        })
    }
}

impl TensorSource for BytesSource<'_> {
    fn read(&self, offset: u64, len: usize) -> Pin<Box<dyn Future<Output = Result<Vec<u8>>> + '_>> {
        Box::pin(std::future::ready(self.range(offset, len).map(<[u8]>::to_vec)))
    }
    fn read_into<'b>(
        &'b self,
        offset: u64,
        out: &'b mut [u8],
    ) -> Pin<Box<dyn Future<Output = Result<()>> + 'b>> {
        Box::pin(std::future::ready(
            self.range(offset, out.len()).map(|bytes| out.copy_from_slice(bytes)),
        ))
    }
    fn len(&self) -> Option<u64> {
        Some(self.bytes.len() as u64)
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// A weights file on disk, read tensor by tensor.
#[cfg(not(target_arch = "wasm32"))]
pub struct FileSource {
    file: std::sync::Mutex<std::fs::File>,
    len: u64,
    name: String,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileSource {
    pub fn open(path: &std::path::Path) -> Result<FileSource> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| Error::file(&name, e))?;
        let len = file.metadata().map_err(|e| Error::file(&name, e))?.len();
        Ok(FileSource { file: std::sync::Mutex::new(file), len, name })
    }

    fn read_exact_at(&self, offset: u64, out: &mut [u8]) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(out))
            .map_err(|e| Error::file(&self.name, format!("{} bytes at {offset}: {e}", out.len())))
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl TensorSource for FileSource {
    fn read(&self, offset: u64, len: usize) -> Pin<Box<dyn Future<Output = Result<Vec<u8>>> + '_>> {
        let mut bytes = vec![0; len];
        let done = self.read_exact_at(offset, &mut bytes).map(|()| bytes);
        Box::pin(std::future::ready(done))
    }
    fn read_into<'b>(
        &'b self,
        offset: u64,
        out: &'b mut [u8],
    ) -> Pin<Box<dyn Future<Output = Result<()>> + 'b>> {
        Box::pin(std::future::ready(self.read_exact_at(offset, out)))
    }
    fn len(&self) -> Option<u64> {
        Some(self.len)
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// Where a load writes, as it goes, the model file of what it loaded (in the
/// weight format it loaded in): the browser caches a quantized download so.
pub trait ByteSink {
    /// `bytes` at `offset` of the file; any order, each byte once.
    fn write<'b>(
        &'b self,
        offset: u64,
        bytes: &'b [u8],
    ) -> Pin<Box<dyn Future<Output = Result<()>> + 'b>>;
}

/// A model file being written by a load ([`Weights::recording`]).
struct Recording<'a> {
    sink: &'a dyn ByteSink,
    plan: model_file::Plan,
    written: std::sync::Mutex<BTreeSet<String>>,
}

/// Bytes read first: enough to tell an HTML page or a Git LFS pointer from
/// a safetensors header when the length it starts with makes no sense.
const PREFIX_BYTES: usize = 64;

/// A safetensors header: where the data starts and what it holds.
pub struct Header {
    pub data_start: u64,
    pub metadata: Metadata,
}

impl Header {
    /// Reads the 8-byte length, then the header, from `source`.
    pub async fn read(source: &dyn TensorSource) -> Result<Header> {
        if let Some(len @ 0..8) = source.len() {
            return Err(model_file::not_safetensors(
                &source.read(0, len as usize).await?,
                source.name(),
            ));
        }
        // At least 8 bytes are there (checked above) when the length is known.
        let prefix =
            source.read(0, source.len().map_or(8, |len| PREFIX_BYTES.min(len as usize))).await?;
        let n = model_file::header_length(&prefix, source.len(), source.name())?;
        // The prefix's bytes are not read again.
        let end = 8 + n as usize;
        let mut bytes = prefix;
        if end > bytes.len() {
            let rest = source.read(bytes.len() as u64, end - bytes.len()).await?;
            bytes.extend_from_slice(&rest);
        }
        bytes.truncate(end);
        let (data_start, metadata) = model_file::read_header(&bytes, source.name())?;
        Ok(Header { data_start: data_start as u64, metadata })
    }

    /// `Some(format)` for a webclip model file, `None` for a checkpoint.
    pub fn stored_format(&self, source: &str) -> Result<Option<WeightFormat>> {
        model_file::stored_format(&self.metadata, source)
    }
}

/// How the kernels read a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Read as f32 as it is (LayerNorms, biases, positions, `logit_scale`).
    Small,
    /// Multiplied by: packed in the weight format (`model_file::is_matrix`).
    Matrix,
}

/// One tensor a CLIP checkpoint must hold.
#[derive(Clone, Debug)]
pub struct Expected {
    pub name: String,
    pub shape: Vec<usize>,
    pub kind: Kind,
}

/// Every tensor `config` implies, with its Hugging Face name and shape.
pub fn expected(c: &ClipConfig) -> Vec<Expected> {
    let mut out = Vec::new();
    let mut add = |name: String, shape: Vec<usize>| {
        let kind = if model_file::is_matrix(&name) { Kind::Matrix } else { Kind::Small };
        out.push(Expected { name, shape, kind });
    };
    let (v, t) = (&c.vision, &c.text);
    let (dv, dt) = (v.tower.width, t.tower.width);
    add(
        "vision_model.embeddings.patch_embedding.weight".into(),
        vec![dv, v.channels, v.patch_size, v.patch_size],
    );
    add("vision_model.embeddings.class_embedding".into(), vec![dv]);
    add("vision_model.embeddings.position_embedding.weight".into(), vec![v.tokens(), dv]);
    for ln in ["vision_model.pre_layrnorm", "vision_model.post_layernorm"] {
        add(format!("{ln}.weight"), vec![dv]);
        add(format!("{ln}.bias"), vec![dv]);
    }
    add("visual_projection.weight".into(), vec![c.projection_dim, dv]);
    add("text_model.embeddings.token_embedding.weight".into(), vec![t.vocab_size, dt]);
    add("text_model.embeddings.position_embedding.weight".into(), vec![t.max_positions, dt]);
    add("text_model.final_layer_norm.weight".into(), vec![dt]);
    add("text_model.final_layer_norm.bias".into(), vec![dt]);
    add("text_projection.weight".into(), vec![c.projection_dim, dt]);
    add("logit_scale".into(), vec![]);
    for (prefix, tower) in [("vision_model.encoder", &v.tower), ("text_model.encoder", &t.tower)] {
        layer_tensors(prefix, tower, &mut add);
    }
    out
}

fn layer_tensors(prefix: &str, c: &TowerConfig, add: &mut impl FnMut(String, Vec<usize>)) {
    let (d, f) = (c.width, c.intermediate);
    for i in 0..c.layers {
        let p = format!("{prefix}.layers.{i}");
        for (name, n, k) in [
            ("self_attn.q_proj", d, d),
            ("self_attn.k_proj", d, d),
            ("self_attn.v_proj", d, d),
            ("self_attn.out_proj", d, d),
            ("mlp.fc1", f, d),
            ("mlp.fc2", d, f),
        ] {
            add(format!("{p}.{name}.weight"), vec![n, k]);
            add(format!("{p}.{name}.bias"), vec![n]);
        }
        for ln in ["layer_norm1", "layer_norm2"] {
            add(format!("{p}.{ln}.weight"), vec![d]);
            add(format!("{p}.{ln}.bias"), vec![d]);
        }
    }
}

/// The checked tensors of one weights file, read on demand.
pub struct Weights<'a> {
    source: &'a dyn TensorSource,
    /// Where each tensor's bytes are (absolute), by name; scales included.
    tensors: HashMap<String, TensorInfo>,
    data_start: u64,
    expected: HashMap<String, Expected>,
    /// The format [`Weights::matrix`] returns matrices in.
    pub format: WeightFormat,
    /// A webclip model file: matrices are stored packed in `format` already.
    packed: bool,
    record: Option<Recording<'a>>,
    /// Bytes of several neighbouring tensors read at once ([`Weights::prefetch`]).
    window: std::sync::Mutex<Option<Window>>,
}

/// A span of the file, already read: `bytes` from `start`.
struct Window {
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
        let name = source.name();
        let stored = header.stored_format(name)?;
        if let Some(stored) = stored.filter(|&f| f != format) {
            return Err(Error::file(
                name,
                format!(
                    "holds {} weights, not {}: convert the checkpoint again with --quant {}",
                    stored.name(),
                    format.name(),
                    format.name()
                ),
            ));
        }
        let tensors: HashMap<String, TensorInfo> =
            header.metadata.tensors().into_iter().map(|(n, info)| (n, info.clone())).collect();
        let w = Weights {
            source,
            tensors,
            data_start: header.data_start,
            expected: HashMap::new(),
            format,
            packed: stored.is_some(),
            record: None,
            window: Default::default(),
        };
        // The data's extent: a file cut short is reported now, not halfway through the upload.
        let end =
            w.tensors.values().map(|t| t.data_offsets.1 as u64).max().unwrap_or(0) + w.data_start;
        if let Some(len) = source.len().filter(|&len| len < end) {
            return Err(Error::file(
                name,
                format!("is truncated: {len} bytes, its header describes {end}"),
            ));
        }
        let mut planned = BTreeSet::new();
        let mut expected = HashMap::new();
        for e in self::expected(config) {
            for (tensor, dtypes, shape) in w.stored_as(&e) {
                let info = w
                    .tensors
                    .get(&tensor)
                    .ok_or_else(|| Error::tensor(&tensor, format!("missing from {name}")))?;
                // logit_scale: some exports store it as [1].
                let shape_ok =
                    info.shape == shape || (e.name == "logit_scale" && info.shape == [1]);
                let stored = if w.packed && e.kind == Kind::Matrix {
                    format!(" (a {} matrix {:?})", format.name(), e.shape)
                } else {
                    String::new()
                };
                if !shape_ok {
                    return Err(Error::tensor(
                        &tensor,
                        format!(
                            "has shape {:?} in {name}, the config implies {shape:?}{stored}",
                            info.shape
                        ),
                    ));
                }
                if !dtypes.contains(&info.dtype) {
                    let allowed: Vec<String> = dtypes.iter().map(|d| format!("{d:?}")).collect();
                    return Err(Error::tensor(
                        &tensor,
                        format!(
                            "has dtype {:?} in {name}; expected {}{stored}",
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
        if let Some(extra) =
            w.tensors.keys().filter(|n| !planned.contains(*n) && !n.ends_with("position_ids")).min()
        {
            return Err(Error::tensor(extra, format!("is in {name} but not described by config.json (wrong num_hidden_layers, or not a CLIP checkpoint?)")));
        }
        Ok(Weights { expected, ..w })
    }

    /// From now on, every tensor read is also written to `sink`, at its place
    /// in the model file `plan` lays out; [`Weights::finish_recording`] ends it.
    pub fn recording(self, sink: &'a dyn ByteSink, plan: model_file::Plan) -> Weights<'a> {
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
            return Err(Error::Input(format!(
                "the model file being written has {written} of its {planned} tensors"
            )));
        }
        r.sink.write(0, &r.plan.header).await
    }

    /// The stored tensors of `e`: name, accepted dtypes, shape.
    fn stored_as(&self, e: &Expected) -> Vec<(String, Vec<Dtype>, Vec<usize>)> {
        let floats = vec![Dtype::F32, Dtype::F16, Dtype::BF16];
        if !self.packed {
            return vec![(e.name.clone(), floats, e.shape.clone())];
        }
        if e.kind == Kind::Small {
            return vec![(e.name.clone(), vec![Dtype::F32], e.shape.clone())];
        }
        let (n, k) = matrix_dims(&e.shape);
        let (dtype, shape, scales) = model_file::packed_layout(self.format, n, k);
        let mut out = vec![(e.name.clone(), vec![dtype], shape)];
        if let Some(shape) = scales {
            out.push((model_file::scales_name(&e.name), vec![Dtype::F16], shape));
        }
        out
    }

    fn planned(&self, name: &str, kind: Kind) -> &Expected {
        match self.expected.get(name) {
            Some(e) if e.kind == kind => e,
            _ => panic!("{name} is read as {kind:?} but weights::expected lists it otherwise"),
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
        let spans: Vec<(u64, u64)> = self
            .tensors
            .iter()
            .filter(|(name, _)| !prefix.is_empty() && name.starts_with(prefix))
            .map(|(_, t)| {
                (
                    self.data_start + t.data_offsets.0 as u64,
                    self.data_start + t.data_offsets.1 as u64,
                )
            })
            .collect();
        let (Some(start), Some(end)) =
            (spans.iter().map(|s| s.0).min(), spans.iter().map(|s| s.1).max())
        else {
            return Ok(());
        };
        let used: u64 = spans.iter().map(|(a, b)| b - a).sum();
        if end - start > MAX_WINDOW_BYTES || end - start > 2 * used {
            return Ok(());
        }
        let bytes = self.source.read(start, (end - start) as usize).await?;
        *self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(Window { start, bytes });
        Ok(())
    }

    /// `out.len()` bytes at `offset`: from the window when it holds them, else from the source.
    async fn read_into(&self, offset: u64, out: &mut [u8]) -> Result<()> {
        {
            let window = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(w) = window.as_ref().filter(|w| {
                offset >= w.start && offset + out.len() as u64 <= w.start + w.bytes.len() as u64
            }) {
                let at = (offset - w.start) as usize;
                out.copy_from_slice(&w.bytes[at..at + out.len()]);
                return Ok(());
            }
        }
        self.source.read_into(offset, out).await
    }

    /// A tensor's bytes into `out` (checked to have its length at load).
    async fn read_tensor_into(&self, name: &str, out: &mut [u8]) -> Result<()> {
        let info = &self.tensors[name];
        assert_eq!(
            out.len(),
            info.data_offsets.1 - info.data_offsets.0,
            "{name}: read into a buffer of another size"
        );
        self.read_into(self.data_start + info.data_offsets.0 as u64, out).await
    }

    /// A float tensor as f32; F32 data is read straight into the result.
    async fn floats(&self, name: &str) -> Result<Vec<f32>> {
        let info = &self.tensors[name];
        let count = (info.data_offsets.1 - info.data_offsets.0) / (info.dtype.bitsize() / 8);
        self.floats_at(name, 0, count).await
    }

    /// `count` values of a float tensor from value `first`, as f32.
    async fn floats_at(&self, name: &str, first: usize, count: usize) -> Result<Vec<f32>> {
        let info = &self.tensors[name];
        let size = info.dtype.bitsize() / 8;
        let offset = self.data_start + (info.data_offsets.0 + first * size) as u64;
        let values = if info.dtype != Dtype::F32 {
            let mut bytes = vec![0; count * size];
            self.read_into(offset, &mut bytes).await?;
            to_f32(name, info.dtype, &bytes)?
        } else {
            let mut values = vec![0f32; count];
            self.read_into(offset, bytemuck::cast_slice_mut(&mut values)).await?;
            if cfg!(target_endian = "big") {
                values.iter_mut().for_each(|v| *v = f32::from_bits(u32::from_le(v.to_bits())));
            }
            values
        };
        check_finite(name, &info.shape, first, &values, self.source.name())?;
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

    /// A matrix (`[n, k]`: the first dimension by the product of the rest), in [`Weights::format`].
    pub async fn matrix(&self, name: &str) -> Result<PackedWeight> {
        let (n, k) = matrix_dims(&self.planned(name, Kind::Matrix).shape);
        let has_scales = model_file::packed_layout(self.format, n, k).2.is_some();
        let packed = if self.packed {
            // Read straight into the words and scales (little-endian targets), with no byte copy.
            let mut packed = PackedWeight::zeroed(self.format, n, k);
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
                return Err(non_finite(
                    &stored,
                    &self.tensors[&stored].shape,
                    value,
                    at,
                    self.source.name(),
                ));
            }
            packed
        } else {
            // Packed a slice of rows at a time: the packed matrix and PACK_SLICE_BYTES
            // of it in f32 are the most a load holds (the token table alone is 101 MB
            // in f32 for ViT-B/32, 26 MB in q8).
            let mut packed = PackedWeight::zeroed(self.format, n, k);
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

/// `[n, k]` of a matrix stored with `shape` (a convolution's kernel flattened).
pub fn matrix_dims(shape: &[usize]) -> (usize, usize) {
    (shape.first().copied().unwrap_or(1), shape.iter().skip(1).product())
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

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn bytes_source_names_a_short_file() {
        let source = BytesSource { bytes: &[1, 2, 3], name: "m.safetensors".into() };
        assert_eq!(pollster::block_on(source.read(1, 2)).unwrap(), vec![2, 3]);
        assert!(pollster::block_on(source.read(2, 2))
            .unwrap_err()
            .to_string()
            .contains("m.safetensors: ends at 3 bytes"));
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))]
    fn a_model_file_claiming_absurdly_many_layers_is_refused_before_its_tensors_are_listed() {
        // A 969-byte model file header (made for the safetensors_header fuzz target, which ran
        // out of memory on it) whose config.json has 10^8 text layers.
        let file = BytesSource {
            bytes: include_bytes!("../../tests/fixtures/fuzz/layers-1e8.webclip"),
            name: "m.webclip".into(),
        };
        let source = pollster::block_on(super::super::ModelSource::open(&file, None)).unwrap();
        let err = ClipConfig::from_json(&source.texts.config).unwrap_err().to_string();
        assert!(
            err.contains("num_hidden_layers is 100000000, more than the 1000 allowed"),
            "{err}"
        );
    }

    #[test]
    fn expected_tensors_follow_the_config() {
        let c = ClipConfig::from_json("{}").unwrap();
        let all = expected(&c);
        // ViT-B/32 defaults: 12 + 12 layers of 16 tensors, 16 more, and logit_scale.
        assert_eq!(all.len(), 24 * 16 + 14);
        let matrices: usize = all
            .iter()
            .filter(|e| e.kind == Kind::Matrix)
            .map(|e| e.shape.iter().product::<usize>())
            .sum();
        // 12 · (4 · 768² + 2 · 768 · 3072) + 768 · 3072 + 512 · 768
        //   + 12 · (4 · 512² + 2 · 512 · 2048) + 49408 · 512 + 512 · 512
        assert_eq!(matrices, 150_994_944);
    }
}
