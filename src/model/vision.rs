//! The image tower (ViT). CLIP: patches → class token + positions →
//! `pre_layrnorm` → transformer → class token → `post_layernorm` →
//! `visual_projection`. SigLIP: patches (a convolution with bias) + positions →
//! transformer → `post_layernorm` over every token → the attention probe
//! (`attention_pool.rs`).
//!
//! Its inputs (pixels, patches, embeddings) are bound for one input size: the
//! model's own at load; a heatmap binds another ([`VisionTower::inputs_at`]),
//! with the position embeddings interpolated, and runs the same encoder over it.

use crate::engine::{Engine, Epilogue, Linear, Mask, Rows};
use crate::error::Result;

use super::attention_pool::{AttentionPool, PoolInputs};
use super::config::{Family, VisionConfig};
use super::encoder::{affine, Activations, Encoder, LastBlock};
use super::head::{Dense, Head, HeadNames};
use super::heatmap::positions;
use super::weights::Weights;

pub struct VisionTower<E: Engine> {
    pub config: VisionConfig,
    pub max_batch: usize,
    /// The model's own input size, `max_batch` images.
    inputs: VisionInputs<E>,
    /// What [`VisionTower::inputs_at`] binds again for another size.
    embedding: EmbeddingTensors<E>,
    encoder: Encoder<E>,
    pub head: VisionHead<E>,
}

/// How the tower pools its tokens into features.
pub enum VisionHead<E: Engine> {
    /// CLIP: the class token → `post_layernorm` → `visual_projection` (and the
    /// same over every token for heatmaps).
    ClassToken(Head<E>),
    /// SigLIP: `post_layernorm` over every token, then the attention probe.
    Probe(AttentionPool<E>),
}

impl<E: Engine> VisionHead<E> {
    /// The features a pass leaves, one row per picture.
    pub fn features(&self) -> &E::Tensor {
        match self {
            VisionHead::ClassToken(head) => &head.features,
            VisionHead::Probe(pool) => &pool.features,
        }
    }

    /// The head over every token (heatmaps), where the model has one.
    pub fn dense(&self) -> Option<&super::head::DenseHead<E>> {
        match self {
            VisionHead::ClassToken(head) => head.dense.as_ref(),
            VisionHead::Probe(_) => None,
        }
    }
}

/// The tensors of the embeddings, shared by the inputs of every size.
struct EmbeddingTensors<E: Engine> {
    patch_weight: E::Tensor,
    /// SigLIP's patch convolution has a bias, CLIP's none.
    patch_bias: Option<E::Tensor>,
    /// CLIP's class token; SigLIP has none.
    class: Option<E::Tensor>,
    /// `position_embedding.weight` as read, for interpolation.
    positions: Vec<f32>,
    /// CLIP's `pre_layrnorm`; SigLIP has none.
    pre_layrnorm: Option<[E::Tensor; 2]>,
    /// The residual stream the embeddings are written to.
    stream: E::Tensor,
}

/// The tower's inputs bound for `size × size` pictures: pixels → patches and
/// their embeddings → class token and positions → `pre_layrnorm`, into the
/// residual stream.
pub struct VisionInputs<E: Engine> {
    pub size: usize,
    pixels: E::Tensor,
    /// Patches → patch embeddings, over the patches of each image.
    patches: E::Stage,
    /// Class token and positions → `pre_layrnorm`, over every token.
    embeddings: E::Stage,
}

impl<E: Engine> VisionTower<E> {
    /// Reads the tower's tensors from `w` and binds them, a block at a time;
    /// `act` fits `max_batch` images (`Activations::new`) and the largest
    /// heatmap pass, `dense_rows` tokens.
    pub async fn new(
        e: &E,
        c: &VisionConfig,
        w: &Weights<'_>,
        projection_dim: usize,
        (max_batch, dense_rows): (usize, usize),
        act: &Activations<E>,
    ) -> Result<VisionTower<E>> {
        // In the file's order (sorted by name), so a streamed read never goes back.
        let clip = c.family == Family::Clip;
        let e_ = "vision_model.embeddings";
        let class_embedding = match clip {
            true => Some(w.get(&format!("{e_}.class_embedding")).await?),
            false => None,
        };
        let patch_bias = match clip {
            true => None,
            false => Some(w.get(&format!("{e_}.patch_embedding.bias")).await?),
        };
        let patch_embedding = w.matrix(&format!("{e_}.patch_embedding.weight")).await?;
        let positions = w.get(&format!("{e_}.position_embedding.weight")).await?;
        let pre_layrnorm = match clip {
            true => Some(affine(w, "vision_model.pre_layrnorm").await?),
            false => None,
        };
        let embedding = e
            .checked("uploading the vision embeddings", || EmbeddingTensors {
                patch_weight: e.matrix("patch_embedding.weight", &patch_embedding),
                patch_bias: patch_bias.map(|b| e.vector("patch_embedding.bias", &b)),
                class: class_embedding.map(|c| e.vector("class_embedding", &c)),
                pre_layrnorm: pre_layrnorm.map(|[gamma, beta]| {
                    [e.vector("pre_layrnorm.weight", &gamma), e.vector("pre_layrnorm.bias", &beta)]
                }),
                positions,
                stream: act.stream.clone(),
            })
            .await?;
        drop(patch_embedding);
        let inputs = embedding.bind(e, c, c.image_size, max_batch).await?;
        // ClearCLIP's last block is for heatmaps, which only CLIP's head serves.
        let last = if clip { LastBlock::AlsoSelfSelf } else { LastBlock::Plain };
        let encoder =
            Encoder::new(e, &c.tower, w, "vision_model.encoder", act, Mask::Full, last).await?;
        let head = match c.family {
            Family::Clip => {
                let dense = Dense { x: &act.other, normed: &act.normed, max_rows: dense_rows };
                let names = HeadNames {
                    layernorm: "vision_model.post_layernorm",
                    projection: "visual_projection.weight",
                    bias: None,
                };
                let rows = max_batch;
                let head = Head::read(
                    e,
                    w,
                    &act.stream,
                    names,
                    &c.tower,
                    projection_dim,
                    rows,
                    Some(dense),
                );
                VisionHead::ClassToken(head.await?)
            }
            Family::Siglip => {
                let inputs = PoolInputs {
                    stream: &act.stream,
                    normed: &act.normed,
                    qkv: &act.qkv,
                    attn: &act.attn,
                };
                VisionHead::Probe(AttentionPool::read(e, w, &c.tower, max_batch, inputs).await?)
            }
        };
        Ok(VisionTower { config: c.clone(), max_batch, inputs, embedding, encoder, head })
    }

    /// Inputs for one `size × size` picture (a multiple of the patch size), the
    /// position embeddings interpolated as transformers' `interpolate_pos_encoding`.
    pub async fn inputs_at(&self, e: &E, size: usize) -> Result<VisionInputs<E>> {
        self.embedding.bind(e, &self.config, size, 1).await
    }

    /// Writes `batch` images of pixel values (`batch × channels × size × size`,
    /// at most `max_batch`) and records the whole tower.
    pub fn record(&self, e: &E, pass: &mut E::Pass<'_>, pixels: &[f32], batch: usize) {
        let t = self.config.tokens();
        self.inputs.record(e, pass, pixels, batch, &self.config);
        self.encoder.record(e, pass, Rows { batch, seq: t });
        match &self.head {
            VisionHead::ClassToken(head) => {
                let class_rows: Vec<u32> = (0..batch).map(|b| (b * t) as u32).collect();
                head.record(e, pass, &class_rows);
            }
            VisionHead::Probe(pool) => pool.record(e, pass, batch, t),
        }
    }

    /// ClearCLIP's pass over one picture bound in `inputs`: the encoder with
    /// its last block's self-self attention, then every token through
    /// `post_layernorm` and `visual_projection` ([`Head::dense`]'s `features`).
    pub fn record_dense(
        &self,
        e: &E,
        pass: &mut E::Pass<'_>,
        inputs: &VisionInputs<E>,
        pixels: &[f32],
    ) {
        let grid = inputs.size / self.config.patch_size;
        let rows = Rows { batch: 1, seq: grid * grid + self.config.class_tokens() };
        inputs.record(e, pass, pixels, 1, &self.config);
        self.encoder.record_self_self(e, pass, rows);
        if let VisionHead::ClassToken(head) = &self.head {
            head.record_dense(e, pass, rows.count());
        }
    }
}

impl<E: Engine> EmbeddingTensors<E> {
    async fn bind(
        &self,
        e: &E,
        c: &VisionConfig,
        size: usize,
        batch: usize,
    ) -> Result<VisionInputs<E>> {
        let (d, p, grid) = (c.tower.width, c.patch_size, size / c.patch_size);
        let patch_len = c.channels * p * p;
        let patch_count = grid * grid;
        let positions = match grid == c.grid() {
            true => self.positions.clone(),
            false => positions::interpolate(&self.positions, c.grid(), grid, d),
        };
        let what = format!("binding the vision inputs for {size}x{size} pictures");
        e.checked(&what, || {
            let pixels = e.scratch("pixel values", batch * c.channels * size * size);
            let patches = e.scratch("patches", batch * patch_count * patch_len);
            let patch_embeds = e.scratch("patch embeddings", batch * patch_count * d);
            let positions = e.vector("position_embedding.weight", &positions);
            let mut to_patches = e.stage("vision_model.embeddings.patch_embedding");
            e.patches(&mut to_patches, &pixels, c.channels, size, p, &patches);
            let epilogue = match &self.patch_bias {
                Some(bias) => Epilogue::bias(bias),
                None => Epilogue::none(),
            };
            let (x, w) = (&patches, &self.patch_weight);
            e.linear(
                &mut to_patches,
                Linear { x, w, n: d, k: patch_len, epilogue, y: &patch_embeds },
            );
            let mut embeddings = e.stage("vision_model.embeddings");
            let s = &mut embeddings;
            let class = self.class.as_ref();
            match &self.pre_layrnorm {
                Some([gamma, beta]) => {
                    let embedded = e.scratch("vision embeddings", batch * (patch_count + 1) * d);
                    e.vision_embeddings(s, &patch_embeds, class, &positions, d, &embedded);
                    e.layernorm(s, &embedded, [gamma, beta], d, c.tower.eps, &self.stream);
                }
                None => e.vision_embeddings(s, &patch_embeds, class, &positions, d, &self.stream),
            }
            VisionInputs { size, pixels, patches: to_patches, embeddings }
        })
        .await
    }
}

impl<E: Engine> VisionInputs<E> {
    fn record(
        &self,
        e: &E,
        pass: &mut E::Pass<'_>,
        pixels: &[f32],
        batch: usize,
        c: &VisionConfig,
    ) {
        let grid = self.size / c.patch_size;
        e.write(pass, &self.pixels, pixels);
        e.record(pass, &self.patches, Rows { batch, seq: grid * grid });
        e.record(pass, &self.embeddings, Rows { batch, seq: grid * grid + c.class_tokens() });
    }
}
