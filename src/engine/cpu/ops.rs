//! The ops of the CPU engine: each holds the tensors it was bound to and its
//! fixed sizes; [`CpuOp::run`] computes it over a pass's rows, on the calling
//! thread (natively the matmul and attention kernels fan out over rayon).

use std::sync::Arc;

use crate::engine::{Activation, Mask, Rows};
use crate::error::{Error, Result};
use crate::ops::format::PackedWeight;

use super::embed;
use super::kernels::{attention, im2col, matmul, norm};
use super::tensor::CpuTensor;

pub(super) enum CpuOp {
    Linear {
        x: CpuTensor,
        w: CpuTensor,
        bias: Option<CpuTensor>,
        act: Activation,
        residual: Option<CpuTensor>,
        y: CpuTensor,
    },
    LayerNorm {
        x: CpuTensor,
        gamma: CpuTensor,
        beta: CpuTensor,
        cols: usize,
        eps: f64,
        y: CpuTensor,
    },
    Attention {
        qkv: CpuTensor,
        heads: usize,
        head_dim: usize,
        mask: Mask,
        out: CpuTensor,
    },
    Patches {
        pixels: CpuTensor,
        channels: usize,
        image_size: usize,
        patch: usize,
        out: CpuTensor,
    },
    VisionEmbeddings {
        patch_embeds: CpuTensor,
        /// CLIP's class token, first in each image; SigLIP has none.
        class: Option<CpuTensor>,
        positions: CpuTensor,
        width: usize,
        out: CpuTensor,
    },
    TokenEmbeddings {
        ids: CpuTensor,
        table: Arc<PackedWeight>,
        positions: CpuTensor,
        out: CpuTensor,
    },
    GatherRows {
        index: CpuTensor,
        x: CpuTensor,
        width: usize,
        out: CpuTensor,
    },
}

/// `len` values of `tensor` from its start, or an internal error naming the op:
/// the model sized every tensor for its most rows, so a shortfall is a bug.
fn first<'a>(values: &'a [f32], len: usize, what: &str) -> Result<&'a [f32]> {
    values.get(..len).ok_or_else(|| {
        Error::Internal(format!("{what}: a tensor of {} values read as {len}", values.len()))
    })
}

fn first_mut<'a>(values: &'a mut [f32], len: usize, what: &str) -> Result<&'a mut [f32]> {
    let have = values.len();
    values.get_mut(..len).ok_or_else(|| {
        Error::Internal(format!("{what}: a tensor of {have} values written as {len}"))
    })
}

impl CpuOp {
    /// Computes the op over `rows` (see [`Rows`]: tokens, or pooled rows).
    pub(super) fn run(&self, rows: Rows) -> Result<()> {
        let (batch, seq, count) = (rows.batch, rows.seq, rows.count());
        match self {
            CpuOp::Linear { x, w, bias, act, residual, y } => {
                let w = w.panels();
                let (bias, residual) =
                    (bias.as_ref().map(|b| b.read()), residual.as_ref().map(|r| r.read()));
                let epilogue = matmul::Epilogue {
                    bias: match &bias {
                        Some(b) => Some(first(b, w.n, "linear bias")?),
                        None => None,
                    },
                    act: *act,
                    residual: match &residual {
                        Some(r) => matmul::Residual::Rows(first(r, count * w.n, "residual")?),
                        None => matmul::Residual::None,
                    },
                };
                let x = x.read();
                let x = first(&x, count * w.k, "linear input")?;
                let mut y = y.write();
                matmul::matmul(x, count, w, &epilogue, first_mut(&mut y, count * w.n, "linear")?);
            }
            CpuOp::LayerNorm { x, gamma, beta, cols, eps, y } => {
                let (x, gamma, beta, mut y) = (x.read(), gamma.read(), beta.read(), y.write());
                let x = first(&x, count * cols, "layernorm input")?;
                let y = first_mut(&mut y, count * cols, "layernorm")?;
                norm::layernorm(x, &gamma[..*cols], &beta[..*cols], *cols, *eps as f32, y);
            }
            CpuOp::Attention { qkv, heads, head_dim, mask, out } => {
                let width = heads * head_dim;
                let qkv = qkv.read();
                let qkv = first(&qkv, count * 3 * width, "attention input")?;
                let mut out = out.write();
                let out = first_mut(&mut out, count * width, "attention")?;
                attention::attention(qkv, (batch, seq), (*heads, *head_dim), *mask, out);
            }
            CpuOp::Patches { pixels, channels, image_size, patch, out } => {
                let pixels = pixels.read();
                let pixels = first(&pixels, batch * channels * image_size * image_size, "pixels")?;
                let mut out = out.write();
                let out = first_mut(&mut out, count * channels * patch * patch, "patches")?;
                im2col::patches(pixels, (batch, *channels, *image_size), *patch, out);
            }
            CpuOp::VisionEmbeddings { patch_embeds, class, positions, width, out } => {
                let p = patch_embeds.read();
                let class = class.as_ref().map(|c| c.read());
                let patches = seq - usize::from(class.is_some());
                let p = first(&p, batch * patches * width, "patch embeddings")?;
                let positions = positions.read();
                let positions = first(&positions, seq * width, "vision positions")?;
                let mut out = out.write();
                let out = first_mut(&mut out, count * width, "vision embeddings")?;
                let class = class.as_deref().map(|c| &c[..]);
                embed::vision_embeddings(p, class, positions, batch, seq, *width, out);
            }
            CpuOp::TokenEmbeddings { ids, table, positions, out } => {
                let ids = ids.read();
                let ids: &[u32] = bytemuck::cast_slice(first(&ids, count, "token ids")?);
                if let Some(bad) = ids.iter().find(|&&id| id as usize >= table.n) {
                    return Err(Error::Internal(format!("token id {bad} reached the table")));
                }
                let positions = positions.read();
                let positions = first(&positions, seq * table.k, "text positions")?;
                let mut out = out.write();
                let out = first_mut(&mut out, count * table.k, "token embeddings")?;
                embed::token_embeddings(ids, table, positions, seq, out);
            }
            CpuOp::GatherRows { index, x, width, out } => {
                let (index, x) = (index.read(), x.read());
                let index: &[u32] = bytemuck::cast_slice(first(&index, count, "pooled index")?);
                if let Some(bad) = index.iter().find(|&&i| (i as usize + 1) * width > x.len()) {
                    return Err(Error::Internal(format!("pooled row {bad} is past the stream")));
                }
                let mut out = out.write();
                let out = first_mut(&mut out, count * width, "pooled rows")?;
                embed::gather_rows(index, &x, *width, out);
            }
        }
        Ok(())
    }
}
