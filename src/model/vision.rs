//! The image tower (ViT): patches → class token + positions → `pre_layrnorm`
//! → transformer → class token → `post_layernorm` → `visual_projection`.
//!
//! Its inputs (pixels, patches, embeddings) are bound for one input size: the
//! model's own at load; a heatmap binds another ([`VisionTower::inputs_at`]),
//! with the position embeddings interpolated, and runs the same encoder over it.

use crate::engine::{Engine, Epilogue, Linear, Mask, Rows};
use crate::error::Result;

use super::config::VisionConfig;
use super::encoder::{affine, Activations, Encoder, LastBlock};
use super::head::{Dense, Head};
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
    pub head: Head<E>,
}

/// The tensors of the embeddings, shared by the inputs of every size.
struct EmbeddingTensors<E: Engine> {
    patch_weight: E::Tensor,
    class: E::Tensor,
    /// `position_embedding.weight` as read, for interpolation.
    positions: Vec<f32>,
    pre_layrnorm: [E::Tensor; 2],
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
        let class_embedding = w.get("vision_model.embeddings.class_embedding").await?;
        let patch_embedding = w.matrix("vision_model.embeddings.patch_embedding.weight").await?;
        let positions = w.get("vision_model.embeddings.position_embedding.weight").await?;
        let pre_layrnorm = affine(w, "vision_model.pre_layrnorm").await?;
        let embedding = e
            .checked("uploading the vision embeddings", || EmbeddingTensors {
                patch_weight: e.matrix("patch_embedding.weight", &patch_embedding),
                class: e.vector("class_embedding", &class_embedding),
                pre_layrnorm: [
                    e.vector("pre_layrnorm.weight", &pre_layrnorm[0]),
                    e.vector("pre_layrnorm.bias", &pre_layrnorm[1]),
                ],
                positions,
                stream: act.stream.clone(),
            })
            .await?;
        drop(patch_embedding);
        let inputs = embedding.bind(e, c, c.image_size, max_batch).await?;
        let last = LastBlock::AlsoSelfSelf;
        let encoder =
            Encoder::new(e, &c.tower, w, "vision_model.encoder", act, Mask::Full, last).await?;
        let dense = Dense { x: &act.other, normed: &act.normed, max_rows: dense_rows };
        let head = Head::read(
            e,
            w,
            &act.stream,
            ["vision_model.post_layernorm", "visual_projection.weight"],
            &c.tower,
            projection_dim,
            max_batch,
            Some(dense),
        )
        .await?;
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
        self.inputs.record(e, pass, pixels, batch, self.config.patch_size);
        self.encoder.record(e, pass, Rows { batch, seq: t });
        let class_rows: Vec<u32> = (0..batch).map(|b| (b * t) as u32).collect();
        self.head.record(e, pass, &class_rows);
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
        let rows = Rows { batch: 1, seq: grid * grid + 1 };
        inputs.record(e, pass, pixels, 1, self.config.patch_size);
        self.encoder.record_self_self(e, pass, rows);
        self.head.record_dense(e, pass, rows.count());
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
        let positions = positions::interpolate(&self.positions, c.grid(), grid, d);
        let what = format!("binding the vision inputs for {size}x{size} pictures");
        e.checked(&what, || {
            let pixels = e.scratch("pixel values", batch * c.channels * size * size);
            let patches = e.scratch("patches", batch * patch_count * patch_len);
            let patch_embeds = e.scratch("patch embeddings", batch * patch_count * d);
            let embedded = e.scratch("vision embeddings", batch * (patch_count + 1) * d);
            let positions = e.vector("position_embedding.weight", &positions);
            let mut to_patches = e.stage("vision_model.embeddings.patch_embedding");
            e.patches(&mut to_patches, &pixels, c.channels, size, p, &patches);
            e.linear(
                &mut to_patches,
                Linear {
                    x: &patches,
                    w: &self.patch_weight,
                    n: d,
                    k: patch_len,
                    epilogue: Epilogue::none(),
                    y: &patch_embeds,
                },
            );
            let mut embeddings = e.stage("vision_model.embeddings");
            let s = &mut embeddings;
            e.vision_embeddings(s, &patch_embeds, &self.class, &positions, d, &embedded);
            let [gamma, beta] = &self.pre_layrnorm;
            e.layernorm(s, &embedded, [gamma, beta], d, c.tower.eps, &self.stream);
            VisionInputs { size, pixels, patches: to_patches, embeddings }
        })
        .await
    }
}

impl<E: Engine> VisionInputs<E> {
    fn record(&self, e: &E, pass: &mut E::Pass<'_>, pixels: &[f32], batch: usize, patch: usize) {
        let grid = self.size / patch;
        e.write(pass, &self.pixels, pixels);
        e.record(pass, &self.patches, Rows { batch, seq: grid * grid });
        e.record(pass, &self.embeddings, Rows { batch, seq: grid * grid + 1 });
    }
}
