//! The image tower (ViT): patches → class token + positions → `pre_layrnorm`
//! → transformer → class token → `post_layernorm` → `visual_projection`.

use crate::engine::{Engine, Epilogue, Linear, Mask, Rows};
use crate::error::Result;

use super::config::VisionConfig;
use super::encoder::{affine, Activations, Encoder};
use super::head::Head;
use super::weights::Weights;

pub struct VisionTower<E: Engine> {
    pub config: VisionConfig,
    pub max_batch: usize,
    pixels: E::Tensor,
    /// Patches → patch embeddings, over the patches of each image.
    patches: E::Stage,
    /// Class token and positions → `pre_layrnorm`, over every token.
    embeddings: E::Stage,
    encoder: Encoder<E>,
    pub head: Head<E>,
}

impl<E: Engine> VisionTower<E> {
    /// Reads the tower's tensors from `w` and binds them, a block at a time;
    /// `act` fits `max_batch` images (`Activations::new`).
    pub async fn new(
        e: &E,
        c: &VisionConfig,
        w: &Weights<'_>,
        projection_dim: usize,
        max_batch: usize,
        act: &Activations<E>,
    ) -> Result<VisionTower<E>> {
        let (d, t, p) = (c.tower.width, c.tokens(), c.patch_size);
        // In the file's order (sorted by name), so a streamed read never goes back.
        let class_embedding = w.get("vision_model.embeddings.class_embedding").await?;
        let patch_embedding = w.matrix("vision_model.embeddings.patch_embedding.weight").await?;
        let positions = w.get("vision_model.embeddings.position_embedding.weight").await?;
        let pre_layrnorm = affine(w, "vision_model.pre_layrnorm").await?;
        let patch_len = c.channels * p * p;
        let stream = &act.stream;
        let (patches, embeddings, pixels) = e
            .checked("uploading the vision embeddings", || {
                let pixels =
                    e.scratch("pixel values", max_batch * c.channels * c.image_size * c.image_size);
                let patches = e.scratch("patches", max_batch * (t - 1) * patch_len);
                let patch_embeds = e.scratch("patch embeddings", max_batch * (t - 1) * d);
                let embedded = e.scratch("vision embeddings", max_batch * t * d);
                let weight = e.matrix("patch_embedding.weight", &patch_embedding);
                let class = e.vector("class_embedding", &class_embedding);
                let positions = e.vector("position_embedding.weight", &positions);
                let ln = [
                    e.vector("pre_layrnorm.weight", &pre_layrnorm[0]),
                    e.vector("pre_layrnorm.bias", &pre_layrnorm[1]),
                ];
                let mut to_patches = e.stage("vision_model.embeddings.patch_embedding");
                e.patches(&mut to_patches, &pixels, c.channels, c.image_size, p, &patches);
                e.linear(
                    &mut to_patches,
                    Linear {
                        x: &patches,
                        w: &weight,
                        n: d,
                        k: patch_len,
                        epilogue: Epilogue::none(),
                        y: &patch_embeds,
                    },
                );
                let mut embeddings = e.stage("vision_model.embeddings");
                let s = &mut embeddings;
                e.vision_embeddings(s, &patch_embeds, &class, &positions, d, &embedded);
                e.layernorm(s, &embedded, [&ln[0], &ln[1]], d, c.tower.eps, stream);
                (to_patches, embeddings, pixels)
            })
            .await?;
        drop(patch_embedding);
        let encoder = Encoder::new(e, &c.tower, w, "vision_model.encoder", act, Mask::Full).await?;
        let head = Head::read(
            e,
            w,
            stream,
            ["vision_model.post_layernorm", "visual_projection.weight"],
            &c.tower,
            projection_dim,
            max_batch,
        )
        .await?;
        Ok(VisionTower { config: c.clone(), max_batch, pixels, patches, embeddings, encoder, head })
    }

    /// Writes `batch` images of pixel values (`batch × channels × size × size`,
    /// at most `max_batch`) and records the whole tower.
    pub fn record(&self, e: &E, pass: &mut E::Pass<'_>, pixels: &[f32], batch: usize) {
        let t = self.config.tokens();
        e.write(pass, &self.pixels, pixels);
        e.record(pass, &self.patches, Rows { batch, seq: t - 1 });
        e.record(pass, &self.embeddings, Rows { batch, seq: t });
        self.encoder.record(e, pass, Rows { batch, seq: t });
        let class_rows: Vec<u32> = (0..batch).map(|b| (b * t) as u32).collect();
        self.head.record(e, pass, &class_rows);
    }
}
