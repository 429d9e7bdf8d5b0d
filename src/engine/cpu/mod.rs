//! The CPU engine: the same model code on the processor, for browsers without
//! WebGPU and where the only adapter is a software one (a CPU pretending to be
//! a GPU is slower than the CPU itself). Tensors are vectors; a weight matrix
//! is repacked once, at load, into the panels our matmul reads (`kernels/`);
//! an op runs when its stage is recorded, so a pass is the stages in order and
//! its output read straight from the last tensor.
//!
//! Threads: natively rayon's pool (every core) inside the matmul and
//! attention kernels; in the browser one thread, the worker's.

pub mod kernels;

mod embed;
mod ops;
mod tensor;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};

use super::{Engine, Linear, Mask, PackedWeight, Rows, WeightFormat};
use kernels::panels::Panels;
use ops::CpuOp;
pub use tensor::CpuTensor;

/// Matrices packed for `format`'s kernels on the processor. Cheap to clone:
/// clones count their memory together.
#[derive(Clone)]
pub struct CpuEngine {
    format: WeightFormat,
    /// See [`Engine::memory_limit`]: wasm32's, by default.
    memory_limit: Option<u64>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// Bytes of tensors made (never decreases, as on the GPU).
    allocated: AtomicU64,
    /// The first allocation that failed since the last `checked`.
    failed: Mutex<Option<String>>,
    /// Passes run one at a time: a model's activations are shared by its passes.
    pass: Mutex<()>,
}

/// The ops of a stage, run in order over the same rows.
pub struct CpuStage {
    ops: Vec<CpuOp>,
}

/// A pass being recorded: ops run as they are recorded; the first failure is
/// kept for [`Engine::run`] to return.
pub struct CpuPass {
    failed: Option<Error>,
}

/// The most bytes one tensor may hold: wasm32's address space is 4 GiB, and
/// a pass's largest activation is far smaller than any model's weights.
const MAX_TENSOR_BYTES: u64 = 1 << 30;

/// What a model's tensors may take together in wasm32's 4 GiB: the rest is
/// for the wasm module, the tokenizer, a layer's bytes in flight while loading
/// and the decoded pictures.
#[cfg(target_arch = "wasm32")]
const WASM_MODEL_BYTES: u64 = (4 << 30) - (512 << 20);

impl CpuEngine {
    pub fn new(format: WeightFormat) -> CpuEngine {
        #[cfg(target_arch = "wasm32")]
        let memory_limit = Some(WASM_MODEL_BYTES);
        #[cfg(not(target_arch = "wasm32"))]
        let memory_limit = None;
        CpuEngine { format, memory_limit, shared: Arc::default() }
    }

    /// An engine whose models' tensors may take at most `bytes` together.
    pub fn with_memory_limit(self, bytes: u64) -> CpuEngine {
        CpuEngine { memory_limit: Some(bytes), ..self }
    }

    /// Threads a pass runs on: rayon's pool (in the browser, 1 unless the threaded build
    /// started workers: `www/wasm.js`).
    pub fn threads(&self) -> usize {
        rayon::current_num_threads()
    }

    /// `len` zeros, counted; a failed allocation is kept for [`Engine::checked`]
    /// and leaves an empty tensor.
    fn zeros(&self, label: &str, len: usize) -> Vec<f32> {
        let mut values = Vec::new();
        if values.try_reserve_exact(len).is_err() {
            self.fail(format!("{label}: {} bytes could not be allocated", 4 * len as u64));
            return values;
        }
        values.resize(len, 0.0);
        self.shared.allocated.fetch_add(4 * len as u64, Ordering::Relaxed);
        values
    }

    fn fail(&self, message: String) {
        let mut failed = self.shared.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed.get_or_insert(message);
    }
}

impl Engine for CpuEngine {
    type Tensor = CpuTensor;
    type Stage = CpuStage;
    type Pass<'p> = CpuPass;

    fn format(&self) -> WeightFormat {
        self.format
    }

    fn max_tensor_bytes(&self) -> u64 {
        MAX_TENSOR_BYTES
    }

    fn allocated_bytes(&self) -> u64 {
        self.shared.allocated.load(Ordering::Relaxed)
    }

    fn matrix_bytes(&self, format: WeightFormat, n: usize, k: usize) -> u64 {
        kernels::panels::bytes_for(format, n, k)
    }

    fn memory_limit(&self) -> Option<u64> {
        self.memory_limit
    }

    async fn checked<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let value = f();
        let failed = self.shared.failed.lock().unwrap_or_else(PoisonError::into_inner).take();
        match failed {
            None => Ok(value),
            Some(e) => Err(Error::Input(format!("{what}: out of memory ({e})"))),
        }
    }

    fn scratch(&self, label: &str, len: usize) -> CpuTensor {
        CpuTensor::values(self.zeros(label, len))
    }

    fn vector(&self, label: &str, data: &[f32]) -> CpuTensor {
        let mut values = self.zeros(label, data.len());
        if values.len() == data.len() {
            values.copy_from_slice(data);
        }
        CpuTensor::values(values)
    }

    fn matrix(&self, _label: &str, weight: &PackedWeight) -> CpuTensor {
        let panels = Panels::new(weight);
        self.shared.allocated.fetch_add(panels.bytes() as u64, Ordering::Relaxed);
        CpuTensor::matrix(panels)
    }

    fn stage(&self, _label: &str) -> CpuStage {
        CpuStage { ops: Vec::new() }
    }

    fn linear(&self, stage: &mut CpuStage, l: Linear<'_, CpuTensor>) {
        let e = l.epilogue;
        stage.ops.push(CpuOp::Linear {
            x: l.x.clone(),
            w: l.w.clone(),
            bias: e.bias.cloned(),
            act: e.act,
            residual: e.residual.cloned(),
            y: l.y.clone(),
        });
    }

    fn layernorm(
        &self,
        stage: &mut CpuStage,
        x: &CpuTensor,
        [gamma, beta]: [&CpuTensor; 2],
        cols: usize,
        eps: f64,
        y: &CpuTensor,
    ) {
        let (gamma, beta) = (gamma.clone(), beta.clone());
        stage.ops.push(CpuOp::LayerNorm { x: x.clone(), gamma, beta, cols, eps, y: y.clone() });
    }

    fn attention(
        &self,
        stage: &mut CpuStage,
        qkv: &CpuTensor,
        heads: usize,
        head_dim: usize,
        mask: Mask,
        out: &CpuTensor,
    ) {
        let (qkv, out) = (qkv.clone(), out.clone());
        stage.ops.push(CpuOp::Attention { qkv, heads, head_dim, mask, out });
    }

    fn patches(
        &self,
        stage: &mut CpuStage,
        pixels: &CpuTensor,
        channels: usize,
        image_size: usize,
        patch: usize,
        out: &CpuTensor,
    ) {
        let (pixels, out) = (pixels.clone(), out.clone());
        stage.ops.push(CpuOp::Patches { pixels, channels, image_size, patch, out });
    }

    fn vision_embeddings(
        &self,
        stage: &mut CpuStage,
        patch_embeds: &CpuTensor,
        class_embedding: Option<&CpuTensor>,
        positions: &CpuTensor,
        width: usize,
        out: &CpuTensor,
    ) {
        stage.ops.push(CpuOp::VisionEmbeddings {
            patch_embeds: patch_embeds.clone(),
            class: class_embedding.cloned(),
            positions: positions.clone(),
            width,
            out: out.clone(),
        });
    }

    /// The table stays packed in its format (a q8 ViT-B/32 table is 27 MB, f32
    /// 101 MB); a token's row is unpacked when it is gathered.
    fn token_embeddings(
        &self,
        stage: &mut CpuStage,
        ids: &CpuTensor,
        table: &PackedWeight,
        positions: &CpuTensor,
        out: &CpuTensor,
    ) {
        let bytes = table.layout().bytes() as u64;
        self.shared.allocated.fetch_add(bytes, Ordering::Relaxed);
        stage.ops.push(CpuOp::TokenEmbeddings {
            ids: ids.clone(),
            table: Arc::new(table.clone()),
            positions: positions.clone(),
            out: out.clone(),
        });
    }

    fn gather_rows(
        &self,
        stage: &mut CpuStage,
        index: &CpuTensor,
        x: &CpuTensor,
        width: usize,
        out: &CpuTensor,
    ) {
        let (index, x, out) = (index.clone(), x.clone(), out.clone());
        stage.ops.push(CpuOp::GatherRows { index, x, width, out });
    }

    fn write<T: bytemuck::Pod>(&self, pass: &mut CpuPass, tensor: &CpuTensor, data: &[T]) {
        let mut values = tensor.write();
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let into: &mut [u8] = bytemuck::cast_slice_mut(&mut values[..]);
        match into.get_mut(..bytes.len()) {
            Some(into) => into.copy_from_slice(bytes),
            None => {
                let message = format!("{} input bytes for a tensor of {}", bytes.len(), into.len());
                pass.failed.get_or_insert(Error::Internal(message));
            }
        }
    }

    fn record(&self, pass: &mut CpuPass, stage: &CpuStage, rows: Rows) {
        if pass.failed.is_some() {
            return;
        }
        for op in &stage.ops {
            if let Err(e) = op.run(rows) {
                pass.failed = Some(e);
                return;
            }
        }
    }

    async fn run(
        &self,
        record: impl FnOnce(&mut CpuPass),
        out: &CpuTensor,
        len: usize,
    ) -> Result<Vec<f32>> {
        let _one_at_a_time = self.shared.pass.lock().unwrap_or_else(PoisonError::into_inner);
        let mut pass = CpuPass { failed: None };
        record(&mut pass);
        if let Some(e) = pass.failed {
            return Err(e);
        }
        let values = out.read();
        let read = values.get(..len).ok_or_else(|| {
            Error::Internal(format!("{len} features read from {} values", values.len()))
        })?;
        Ok(read.to_vec())
    }
}
