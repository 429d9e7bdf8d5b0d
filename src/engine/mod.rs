//! The seam between the model and the hardware it runs on.
//!
//! The model (`src/model/`) says what a forward pass is: which tensors, which
//! ops, in which order. An [`Engine`] says how: where tensors live, how an op
//! is computed, how a pass is submitted and its result read back. Two
//! implement it, [`webgpu::GpuEngine`] (our WGSL kernels through wgpu) and
//! [`cpu::CpuEngine`] (our wasm SIMD kernels, or native ones, on the processor),
//! and both run the same model code.
//!
//! The life of a model on an engine has two phases:
//! - **load**: tensors are made ([`Engine::vector`], [`Engine::matrix`],
//!   [`Engine::scratch`]) and every op of the pass is bound once to its
//!   tensors ([`Engine::linear`], [`Engine::layernorm`], ...), with its fixed
//!   sizes (widths, heads, the epilogue), at the end of a [`Engine::Stage`]:
//!   the ops that run in order over the same rows (a tower's blocks, its head);
//! - **run**: [`Engine::run`] opens a pass; inside it the model writes its
//!   inputs ([`Engine::write`]) and records its stages with what varies per
//!   pass, the [`Rows`]; then the pass is submitted and `len` floats of its
//!   output come back.
//!
//! A stage is the unit of recording because its ops share their rows: an
//! engine may share per-pass state among them (the GPU engine writes one
//! shape uniform per distinct op shape of a stage, not one per op).

pub mod cpu;
pub mod webgpu;

pub use crate::ops::attention::Mask;
pub use crate::ops::format::{PackedWeight, WeightFormat};
pub use crate::ops::matmul::Activation;

use crate::error::Result;

/// What varies from pass to pass: `batch` sequences of `seq` rows each (for
/// an op that sees no sequences, `seq` is 1 and `batch` counts its rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    pub batch: usize,
    pub seq: usize,
}

impl Rows {
    /// `count` rows with no sequence structure.
    pub fn flat(count: usize) -> Rows {
        Rows { batch: count, seq: 1 }
    }

    pub fn count(self) -> usize {
        self.batch * self.seq
    }
}

/// What a matmul adds after `X · Wᵀ`: `act(· + bias) + residual`. Built by
/// name, so a call site reads as the layer it is:
/// `Epilogue::bias(&b).then(Activation::QuickGelu)`, `Epilogue::bias(&b).plus(&x)`.
pub struct Epilogue<'t, T> {
    pub bias: Option<&'t T>,
    pub act: Activation,
    pub residual: Option<&'t T>,
}

impl<'t, T> Epilogue<'t, T> {
    /// Nothing: `Y = X · Wᵀ` (the patch embedding, the projections).
    pub fn none() -> Self {
        Epilogue { bias: None, act: Activation::None, residual: None }
    }

    /// `Y = X · Wᵀ + bias`.
    pub fn bias(bias: &'t T) -> Self {
        Epilogue { bias: Some(bias), ..Self::none() }
    }

    /// The activation applied after the bias.
    pub fn then(self, act: Activation) -> Self {
        Epilogue { act, ..self }
    }

    /// A residual added last, after the activation.
    pub fn plus(self, residual: &'t T) -> Self {
        Epilogue { residual: Some(residual), ..self }
    }
}

/// One linear layer bound at load: `y[rows, n] = epilogue(x[rows, k] · wᵀ)`,
/// `w` a [`PackedWeight`] made into a tensor by [`Engine::matrix`].
pub struct Linear<'t, T> {
    pub x: &'t T,
    pub w: &'t T,
    pub n: usize,
    pub k: usize,
    pub epilogue: Epilogue<'t, T>,
    pub y: &'t T,
}

/// What a forward pass runs on. The model is generic over it (see the module
/// header for the two phases); nothing of wgpu or of a CPU leaks through.
///
/// Every op an engine binds keeps its tensors alive for as long as its stage
/// lives, so the model holds stages, not tensors it no longer names.
#[allow(async_fn_in_trait)] // used generically, never as `dyn`: no Send bound wanted
pub trait Engine {
    /// Storage of floats (or packed weights, or `u32` ids) the ops read and write.
    type Tensor: Clone;
    /// Ops with their tensors bound, run in order over the same [`Rows`];
    /// recorded into every pass that runs them.
    type Stage;
    /// A pass being recorded.
    type Pass<'p>;

    /// The format matrices are packed in for this engine's kernels.
    fn format(&self) -> WeightFormat;

    /// Most bytes one tensor may hold (a storage binding on a GPU).
    fn max_tensor_bytes(&self) -> u64;

    /// Bytes of tensors made so far by this engine's device (never decreases:
    /// it measures what loading a model takes).
    fn allocated_bytes(&self) -> u64;

    /// Bytes an `[n, k]` matrix packed in `format` takes as [`Engine::matrix`] makes it.
    fn matrix_bytes(&self, format: WeightFormat, n: usize, k: usize) -> u64 {
        format.layout(n, k).bytes() as u64
    }

    /// Most bytes a model's tensors may take together, where the engine knows
    /// it (wasm32's 4 GiB address space); checked before a load allocates.
    fn memory_limit(&self) -> Option<u64> {
        None
    }

    /// Runs `f`, which makes tensors and binds ops, and turns a failure the
    /// hardware reports asynchronously (out of memory, a lost device) into an
    /// error naming `what`.
    async fn checked<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T>;

    /// An uninitialised tensor of `len` 32-bit values.
    fn scratch(&self, label: &str, len: usize) -> Self::Tensor;
    /// A tensor holding `data` (biases, LayerNorm parameters, embeddings).
    fn vector(&self, label: &str, data: &[f32]) -> Self::Tensor;
    /// A tensor holding a packed matrix, in [`Engine::format`].
    fn matrix(&self, label: &str, weight: &PackedWeight) -> Self::Tensor;

    /// An empty stage; the binders below append to it.
    fn stage(&self, label: &str) -> Self::Stage;

    fn linear(&self, stage: &mut Self::Stage, layer: Linear<'_, Self::Tensor>);
    /// LayerNorm of `x`'s rows of `cols` values into `y`.
    fn layernorm(
        &self,
        stage: &mut Self::Stage,
        x: &Self::Tensor,
        gamma_beta: [&Self::Tensor; 2],
        cols: usize,
        eps: f64,
        y: &Self::Tensor,
    );
    /// Multi-head attention over `qkv` rows (`q | k | v`, heads side by side
    /// in each) into `out`, per sequence of the pass.
    fn attention(
        &self,
        stage: &mut Self::Stage,
        qkv: &Self::Tensor,
        heads: usize,
        head_dim: usize,
        mask: Mask,
        out: &Self::Tensor,
    );
    /// The patches of `channels × size × size` images, `patch × patch` each,
    /// as rows for the patch-embedding matmul.
    fn patches(
        &self,
        stage: &mut Self::Stage,
        pixels: &Self::Tensor,
        channels: usize,
        image_size: usize,
        patch: usize,
        out: &Self::Tensor,
    );
    /// The class token (where the model has one: CLIP, not SigLIP) then the patch
    /// embeddings, plus positions, per image: rows of `width`.
    fn vision_embeddings(
        &self,
        stage: &mut Self::Stage,
        patch_embeds: &Self::Tensor,
        class_embedding: Option<&Self::Tensor>,
        positions: &Self::Tensor,
        width: usize,
        out: &Self::Tensor,
    );
    /// Token rows of `table` (`[vocab, width]`, packed) plus positions. The
    /// engine makes the table's tensors itself (a GPU may bind it in slices,
    /// one op each).
    fn token_embeddings(
        &self,
        stage: &mut Self::Stage,
        ids: &Self::Tensor,
        table: &PackedWeight,
        positions: &Self::Tensor,
        out: &Self::Tensor,
    );
    /// Rows `index[i]` of `x` (rows of `width`) into `out`.
    fn gather_rows(
        &self,
        stage: &mut Self::Stage,
        index: &Self::Tensor,
        x: &Self::Tensor,
        width: usize,
        out: &Self::Tensor,
    );

    /// Writes a pass's input into `tensor` (before the ops that read it run).
    fn write<T: bytemuck::Pod>(&self, pass: &mut Self::Pass<'_>, tensor: &Self::Tensor, data: &[T]);
    /// Records `stage`'s ops over `rows` into `pass`.
    fn record(&self, pass: &mut Self::Pass<'_>, stage: &Self::Stage, rows: Rows);
    /// One forward pass: `record` writes inputs and records ops, then the pass
    /// runs and the first `len` floats of `out` come back. Passes on one
    /// device never interleave, whoever runs them.
    async fn run(
        &self,
        record: impl FnOnce(&mut Self::Pass<'_>),
        out: &Self::Tensor,
        len: usize,
    ) -> Result<Vec<f32>>;
}
