//! The seam between the model and the hardware it runs on.
//!
//! The model (`src/model/`) says what a forward pass is: which tensors, which
//! ops, in which order. An [`Engine`] says how: where tensors live, how an op
//! is computed, how a pass is submitted and its result read back. Today there
//! is one, [`webgpu::GpuEngine`] (our WGSL kernels through wgpu); a CPU engine
//! implements the same trait and runs the same model code.
//!
//! The life of a model on an engine has two phases:
//! - **load**: tensors are made ([`Engine::vector`], [`Engine::matrix`],
//!   [`Engine::scratch`]) and every op of the pass is bound once to its
//!   tensors ([`Engine::matmul`], [`Engine::layernorm`], ...), with its fixed
//!   sizes (widths, heads, the epilogue);
//! - **run**: [`Engine::run`] opens a pass; inside it the model writes its
//!   inputs ([`Engine::write`]) and records the bound ops with what varies
//!   per pass, the [`Rows`]; then the pass is submitted and `len` floats of
//!   its output come back.

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
/// Every op an engine binds keeps its tensors alive for as long as it lives,
/// so the model holds ops, not tensors it no longer names.
#[allow(async_fn_in_trait)] // used generically, never as `dyn`: no Send bound wanted
pub trait Engine {
    /// Storage of floats (or packed weights, or `u32` ids) the ops read and write.
    type Tensor: Clone;
    /// An op with its tensors bound, recorded into every pass that runs it.
    type Op;
    /// A pass being recorded.
    type Pass<'p>;

    /// The format matrices are packed in for this engine's kernels.
    fn format(&self) -> WeightFormat;

    /// Most bytes one tensor may hold (a storage binding on a GPU).
    fn max_tensor_bytes(&self) -> u64;

    /// Bytes of tensors made so far by this engine's device (never decreases:
    /// it measures what loading a model takes).
    fn allocated_bytes(&self) -> u64;

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

    fn linear(&self, layer: Linear<'_, Self::Tensor>) -> Self::Op;
    /// LayerNorm of `x`'s rows of `cols` values into `y`.
    fn layernorm(
        &self,
        x: &Self::Tensor,
        gamma_beta: [&Self::Tensor; 2],
        cols: usize,
        eps: f64,
        y: &Self::Tensor,
    ) -> Self::Op;
    /// Multi-head attention over `qkv` rows (`q | k | v`, heads side by side
    /// in each) into `out`, per sequence of the pass.
    fn attention(
        &self,
        qkv: &Self::Tensor,
        heads: usize,
        head_dim: usize,
        mask: Mask,
        out: &Self::Tensor,
    ) -> Self::Op;
    /// The patches of `channels × size × size` images, `patch × patch` each,
    /// as rows for the patch-embedding matmul.
    fn patches(
        &self,
        pixels: &Self::Tensor,
        channels: usize,
        image_size: usize,
        patch: usize,
        out: &Self::Tensor,
    ) -> Self::Op;
    /// Class token then patch embeddings, plus positions, per image: rows of `width`.
    fn vision_embeddings(
        &self,
        patch_embeds: &Self::Tensor,
        class_embedding: &Self::Tensor,
        positions: &Self::Tensor,
        width: usize,
        out: &Self::Tensor,
    ) -> Self::Op;
    /// Token rows of `table` (`[vocab, width]`, packed) plus positions. The
    /// engine makes the table's tensors itself (a GPU may bind it in slices);
    /// all of the returned ops are recorded, in order.
    fn token_embeddings(
        &self,
        ids: &Self::Tensor,
        table: &PackedWeight,
        positions: &Self::Tensor,
        out: &Self::Tensor,
    ) -> Vec<Self::Op>;
    /// Rows `index[i]` of `x` (rows of `width`) into `out`.
    fn gather_rows(
        &self,
        index: &Self::Tensor,
        x: &Self::Tensor,
        width: usize,
        out: &Self::Tensor,
    ) -> Self::Op;

    /// Writes a pass's input into `tensor` (before the ops that read it run).
    fn write<T: bytemuck::Pod>(&self, pass: &mut Self::Pass<'_>, tensor: &Self::Tensor, data: &[T]);
    /// Records `op` over `rows` into `pass`.
    fn record(&self, pass: &mut Self::Pass<'_>, op: &Self::Op, rows: Rows);
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
