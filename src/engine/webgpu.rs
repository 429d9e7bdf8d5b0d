//! The WebGPU engine: tensors are storage buffers, an op is one of our WGSL
//! kernels (`src/ops/`, `shaders/`) with its buffers bound once at load, and a
//! pass is one compute pass, one submit and one readback.
//!
//! A stage's ops read their shapes for the pass (rows, widths, epilogue) from
//! small uniforms, one per distinct [`Shape`] in the stage: the twelve blocks of
//! a tower share six. They are written only when the pass's [`Rows`] differ
//! from the last ones the stage ran with: a second image of the same batch
//! size writes no uniform at all. (One uniform per op measured 1.12-1.27x
//! slower on a 4-label pass on lavapipe than six per tower; the cost grows with
//! the buffers a submit uses, not with the bytes written.)

use std::sync::{Mutex, PoisonError};

use crate::error::Result;
use crate::gpu::{Gpu, GpuBuffer, Step, Uniform};
use crate::ops::attention::{self, AttentionParams};
use crate::ops::embeddings::VisionEmbeddingsParams;
use crate::ops::embeddings::{self, Im2colParams, TableChunk, TextEmbeddingsParams};
use crate::ops::layernorm::{self, LayerNormParams};
use crate::ops::matmul::{self, MatmulParams};
use crate::ops::pooling::{self, RowsParams};
use crate::ops::{EpilogueFlags, Kernels};

use super::{Engine, Linear, Mask, PackedWeight, Rows, WeightFormat};

pub use crate::ops::bench::KernelTiming;
pub use crate::ops::KernelFamily;

/// A tensor on the GPU: its buffer and, for a matrix, the format it is packed in
/// (a q4 model keeps a few matrices in q8: `model::precision`).
#[derive(Clone, Debug)]
pub struct GpuTensor {
    buffer: GpuBuffer,
    format: Option<WeightFormat>,
}

impl std::ops::Deref for GpuTensor {
    type Target = GpuBuffer;
    fn deref(&self) -> &GpuBuffer {
        &self.buffer
    }
}

/// A device and the kernels of one family for one weight format. Cheap to
/// clone: models loaded in the same format share one.
#[derive(Clone)]
pub struct GpuEngine {
    gpu: Gpu,
    kernels: Kernels,
}

impl GpuEngine {
    /// Compiles the kernels of `family` for weights in `format` on `gpu`.
    pub async fn compile(
        gpu: &Gpu,
        family: KernelFamily,
        format: WeightFormat,
    ) -> Result<GpuEngine> {
        Ok(GpuEngine { gpu: gpu.clone(), kernels: Kernels::new(gpu, family, format).await? })
    }

    /// The kernel benchmark (`webclip bench-kernels`, `www/bench.html`) on
    /// these kernels: `samples` timed runs per shape, the kernels whose name
    /// contains `only`.
    pub async fn bench(&self, samples: usize, only: &str) -> Result<Vec<KernelTiming>> {
        crate::ops::bench::run(&self.gpu, &self.kernels, samples, only).await
    }

    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    pub fn kernels(&self) -> &Kernels {
        &self.kernels
    }

    /// Appends to `stage` an op of shape `shape` (its uniform holds a `P`),
    /// bound by `bind` to that uniform and its buffers. Ops of equal shape in
    /// one stage share the uniform: they run over the same rows.
    fn op<P: bytemuck::Pod>(
        &self,
        stage: &mut GpuStage,
        shape: Shape,
        bind: impl FnOnce(&Uniform<P>) -> Step,
    ) {
        let shared = stage.shapes.iter().position(|s| s.shape == shape);
        let at = shared.unwrap_or_else(|| {
            let label = format!("{}: {}", stage.label, shape.label());
            let uniform = Uniform::<P>::new(&self.gpu, &label, &P::zeroed());
            stage.shapes.push(StageShape { shape, uniform: uniform.buffer });
            stage.shapes.len() - 1
        });
        let step = bind(&Uniform::of(stage.shapes[at].uniform.clone()));
        stage.ops.push(GpuOp { step, shape: at });
    }
}

/// Kernels with their buffers bound, run in order over the same rows.
pub struct GpuStage {
    label: String,
    ops: Vec<GpuOp>,
    shapes: Vec<StageShape>,
    /// The rows the uniforms hold and each shape's extent for them, once written.
    written: Mutex<Option<(Rows, Vec<[u32; 3]>)>>,
}

/// A kernel with its buffers bound, and the index of its shape in its stage.
struct GpuOp {
    step: Step,
    shape: usize,
}

/// One distinct shape of a stage and the uniform its ops read it from.
struct StageShape {
    shape: Shape,
    uniform: GpuBuffer,
}

/// The sizes an op is bound with; with a pass's [`Rows`] they make its uniform.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Linear { n: usize, k: usize, epilogue: EpilogueFlags },
    LayerNorm { cols: usize, eps: f64 },
    Attention { heads: usize, head_dim: usize, mask: Mask },
    Patches { channels: usize, image_size: usize, patch: usize },
    VisionEmbeddings { width: usize, class_tokens: usize },
    TokenEmbeddings { width: usize, chunk: TableChunk },
    GatherRows { width: usize },
}

impl Shape {
    fn label(self) -> &'static str {
        match self {
            Shape::Linear { .. } => "matmul shape",
            Shape::LayerNorm { .. } => "layernorm shape",
            Shape::Attention { .. } => "attention shape",
            Shape::Patches { .. } => "im2col shape",
            Shape::VisionEmbeddings { .. } => "vision embeddings shape",
            Shape::TokenEmbeddings { .. } => "text embeddings shape",
            Shape::GatherRows { .. } => "pooled rows shape",
        }
    }

    /// The uniform's bytes for `rows`, and the output items the kernel covers.
    fn params(self, rows: Rows) -> (Vec<u8>, [u32; 3]) {
        fn of<P: bytemuck::Pod>(params: P, extent: [u32; 3]) -> (Vec<u8>, [u32; 3]) {
            (bytemuck::bytes_of(&params).to_vec(), extent)
        }
        let (batch, seq, count) = (rows.batch, rows.seq, rows.count());
        match self {
            Shape::Linear { n, k, epilogue } => {
                let p = MatmulParams::new(count, n, k, epilogue);
                of(p, p.extent())
            }
            Shape::LayerNorm { cols, eps } => {
                let p = LayerNormParams::new(count, cols, eps);
                of(p, p.extent())
            }
            Shape::Attention { heads, head_dim, mask } => {
                let p = AttentionParams::new(batch, seq, heads, head_dim, mask);
                of(p, p.extent())
            }
            Shape::Patches { channels, image_size, patch } => {
                let p = Im2colParams::new(batch, channels, image_size, patch);
                of(p, p.extent())
            }
            Shape::VisionEmbeddings { width, class_tokens } => {
                let p = VisionEmbeddingsParams::new(batch, seq, width, class_tokens);
                of(p, p.extent())
            }
            Shape::TokenEmbeddings { width, chunk } => {
                let p = TextEmbeddingsParams::new(batch, seq, width, chunk);
                of(p, p.extent())
            }
            Shape::GatherRows { width } => {
                let p = RowsParams::new(count, width);
                of(p, p.extent())
            }
        }
    }
}

impl Engine for GpuEngine {
    type Tensor = GpuTensor;
    type Stage = GpuStage;
    type Pass<'p> = wgpu::ComputePass<'p>;

    fn format(&self) -> WeightFormat {
        self.kernels.format
    }

    fn max_tensor_bytes(&self) -> u64 {
        self.gpu.max_binding_bytes()
    }

    fn allocated_bytes(&self) -> u64 {
        self.gpu.allocated_bytes()
    }

    async fn checked<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        self.gpu.checked(what, f).await
    }

    fn scratch(&self, label: &str, len: usize) -> GpuTensor {
        GpuTensor { buffer: self.gpu.scratch(label, len), format: None }
    }

    fn vector(&self, label: &str, data: &[f32]) -> GpuTensor {
        GpuTensor { buffer: self.gpu.upload(label, data), format: None }
    }

    fn matrix(&self, label: &str, weight: &PackedWeight) -> GpuTensor {
        GpuTensor { buffer: weight.upload(&self.gpu, label), format: Some(weight.format) }
    }

    fn stage(&self, label: &str) -> GpuStage {
        GpuStage {
            label: label.to_owned(),
            ops: Vec::new(),
            shapes: Vec::new(),
            written: Mutex::new(None),
        }
    }

    fn linear(&self, stage: &mut GpuStage, l: Linear<'_, GpuTensor>) {
        let e = &l.epilogue;
        let epilogue =
            EpilogueFlags { bias: e.bias.is_some(), act: e.act, residual: e.residual.is_some() };
        let shape = Shape::Linear { n: l.n, k: l.k, epilogue };
        // A q4 model's q8 matrices (`model::precision`) go to q4's q8 matmul.
        let format = l.w.format.unwrap_or(self.kernels.format);
        let kernel = self.kernels.matmul_for(format).unwrap_or_else(|| {
            panic!("a {} matrix bound on a {} engine", format.name(), self.kernels.format.name())
        });
        let (bias, residual) = (e.bias.map(|b| &b.buffer), e.residual.map(|r| &r.buffer));
        self.op(stage, shape, |u| matmul::bind(kernel, &self.gpu, u, l.x, l.w, bias, residual, l.y))
    }

    fn layernorm(
        &self,
        stage: &mut GpuStage,
        x: &GpuTensor,
        [gamma, beta]: [&GpuTensor; 2],
        cols: usize,
        eps: f64,
        y: &GpuTensor,
    ) {
        self.op(stage, Shape::LayerNorm { cols, eps }, |u| {
            layernorm::bind(&self.kernels.layernorm, &self.gpu, u, x, gamma, beta, y)
        })
    }

    fn attention(
        &self,
        stage: &mut GpuStage,
        qkv: &GpuTensor,
        heads: usize,
        head_dim: usize,
        mask: Mask,
        out: &GpuTensor,
    ) {
        self.op(stage, Shape::Attention { heads, head_dim, mask }, |u| {
            attention::bind(&self.kernels.attention, &self.gpu, u, qkv, out)
        })
    }

    fn patches(
        &self,
        stage: &mut GpuStage,
        pixels: &GpuTensor,
        channels: usize,
        image_size: usize,
        patch: usize,
        out: &GpuTensor,
    ) {
        self.op(stage, Shape::Patches { channels, image_size, patch }, |u| {
            embeddings::bind_im2col(&self.kernels.im2col, &self.gpu, u, pixels, out)
        })
    }

    fn vision_embeddings(
        &self,
        stage: &mut GpuStage,
        patch_embeds: &GpuTensor,
        class_embedding: Option<&GpuTensor>,
        positions: &GpuTensor,
        width: usize,
        out: &GpuTensor,
    ) {
        let class_tokens = usize::from(class_embedding.is_some());
        self.op(stage, Shape::VisionEmbeddings { width, class_tokens }, |u| {
            let k = &self.kernels.vision_embeddings;
            // Without a class token the kernel never reads binding 2: positions stand in.
            let class = &class_embedding.unwrap_or(positions).buffer;
            embeddings::bind_vision(k, &self.gpu, u, patch_embeds, class, positions, out)
        })
    }

    /// One op per slice of the table that fits a storage binding (lavapipe
    /// binds at most 128 MiB; ViT-L/14's f32 token table is 145 MiB).
    fn token_embeddings(
        &self,
        stage: &mut GpuStage,
        ids: &GpuTensor,
        table: &PackedWeight,
        positions: &GpuTensor,
        out: &GpuTensor,
    ) {
        let (vocab, width) = (table.n, table.k);
        let chunks =
            embeddings::table_chunks(vocab, width, self.gpu.max_binding_bytes(), table.format);
        for chunk in chunks {
            let label = "token_embedding.weight";
            // One chunk is the whole table: no copy.
            let rows = if chunk.count == vocab {
                table.upload(&self.gpu, label)
            } else {
                table.slice_columns(chunk.first_id, chunk.count).upload(&self.gpu, label)
            };
            self.op(stage, Shape::TokenEmbeddings { width, chunk }, |u| {
                let k = &self.kernels.text_embeddings;
                embeddings::bind_text(k, &self.gpu, u, ids, &rows, positions, out)
            });
        }
    }

    fn gather_rows(
        &self,
        stage: &mut GpuStage,
        index: &GpuTensor,
        x: &GpuTensor,
        width: usize,
        out: &GpuTensor,
    ) {
        self.op(stage, Shape::GatherRows { width }, |u| {
            pooling::bind_gather(&self.kernels.gather_rows, &self.gpu, u, index, x, out)
        })
    }

    fn write<T: bytemuck::Pod>(
        &self,
        _pass: &mut wgpu::ComputePass<'_>,
        tensor: &GpuTensor,
        data: &[T],
    ) {
        // Queued writes land before the submit that ends the pass.
        self.gpu.queue.write_buffer(tensor, 0, bytemuck::cast_slice(data));
    }

    fn record(&self, pass: &mut wgpu::ComputePass<'_>, stage: &GpuStage, rows: Rows) {
        let mut written = stage.written.lock().unwrap_or_else(PoisonError::into_inner);
        if written.as_ref().map(|(r, _)| *r) != Some(rows) {
            let extents = stage
                .shapes
                .iter()
                .map(|s| {
                    let (params, extent) = s.shape.params(rows);
                    self.gpu.queue.write_buffer(&s.uniform, 0, &params);
                    extent
                })
                .collect();
            *written = Some((rows, extents));
        }
        let (_, extents) = written.as_ref().expect("written above");
        for op in &stage.ops {
            op.step.dispatch_over(pass, extents[op.shape]);
        }
    }

    /// One command encoder, one compute pass, one submit with the readback
    /// copy. Inputs are written, recorded and submitted without an `.await` in
    /// between and under the device's pass lock, so concurrent passes (two
    /// widgets, two threads) cannot overwrite each other's inputs or shapes.
    async fn run(
        &self,
        record: impl FnOnce(&mut wgpu::ComputePass<'_>),
        out: &GpuTensor,
        len: usize,
    ) -> Result<Vec<f32>> {
        let pending = self
            .gpu
            .checked("running a forward pass", || {
                let _one_at_a_time = self.gpu.one_pass_at_a_time();
                let label = Some("clip forward");
                let mut encoder = self
                    .gpu
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor { label });
                record(&mut encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label,
                    timestamp_writes: None,
                }));
                self.gpu.submit_with_readback(encoder, out, len)
            })
            .await?;
        pending.read(&self.gpu).await
    }
}
