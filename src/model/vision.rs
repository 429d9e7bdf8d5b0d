//! The image tower (ViT): patches → class token + positions → `pre_layrnorm`
//! → transformer → class token → `post_layernorm` → `visual_projection`.

use crate::error::Result;
use crate::gpu::{Gpu, Step, Uniform};
use crate::ops::embeddings::{self, Im2colParams, VisionEmbeddingsParams};
use crate::ops::layernorm::{self, LayerNormParams};
use crate::ops::matmul::{self, Activation, MatmulParams};
use crate::ops::Kernels;

use super::config::VisionConfig;
use super::encoder::{affine, Activations, Encoder, Head};
use super::weights::Weights;

pub struct VisionTower {
    pub config: VisionConfig,
    pub max_batch: usize,
    pixels: crate::gpu::GpuBuffer,
    im2col_shape: Uniform<Im2colParams>,
    patch_shape: Uniform<MatmulParams>,
    embed_shape: Uniform<VisionEmbeddingsParams>,
    ln_shape: Uniform<LayerNormParams>,
    im2col: Step,
    patch_matmul: Step,
    embed: Step,
    pre_layrnorm: Step,
    encoder: Encoder,
    pub head: Head,
    _weights: Vec<crate::gpu::GpuBuffer>,
}

impl VisionTower {
    /// Reads the tower's tensors from `w` and uploads them, a block at a time;
    /// `act` fits `max_batch` images (`Activations::new`).
    pub async fn new(
        gpu: &Gpu,
        k: &Kernels,
        c: &VisionConfig,
        w: &Weights<'_>,
        projection_dim: usize,
        max_batch: usize,
        act: &Activations,
    ) -> Result<VisionTower> {
        let (d, t, p) = (c.tower.width, c.tokens(), c.patch_size);
        // In the file's order (sorted by name), so a streamed read never goes back.
        let class_embedding = w.get("vision_model.embeddings.class_embedding").await?;
        let patch_embedding = w.matrix("vision_model.embeddings.patch_embedding.weight").await?;
        let positions = w.get("vision_model.embeddings.position_embedding.weight").await?;
        let pre_layrnorm = affine(w, "vision_model.pre_layrnorm").await?;
        let patch_len = c.channels * p * p;
        let pixels =
            gpu.scratch("pixel values", max_batch * c.channels * c.image_size * c.image_size);
        let patches = gpu.scratch("patches", max_batch * (t - 1) * patch_len);
        let patch_embeds = gpu.scratch("patch embeddings", max_batch * (t - 1) * d);
        let embedded = gpu.scratch("vision embeddings", max_batch * t * d);
        let stream = &act.stream;
        let weights = gpu
            .checked("uploading the vision embeddings", || {
                vec![
                    patch_embedding.upload(gpu, "patch_embedding.weight"),
                    gpu.upload("class_embedding", &class_embedding),
                    gpu.upload("position_embedding.weight", &positions),
                    gpu.upload("pre_layrnorm.weight", &pre_layrnorm[0]),
                    gpu.upload("pre_layrnorm.bias", &pre_layrnorm[1]),
                ]
            })
            .await?;
        drop(patch_embedding);
        let encoder = Encoder::new(gpu, k, &c.tower, w, "vision_model.encoder", act, false).await?;
        let head = Head::read(
            gpu,
            k,
            w,
            stream,
            "vision_model.post_layernorm",
            "visual_projection.weight",
            &c.tower,
            projection_dim,
            max_batch,
        )
        .await?;
        let im2col_shape =
            Uniform::new(gpu, "im2col shape", &Im2colParams::new(0, c.channels, c.image_size, p));
        let patch_shape = Uniform::new(
            gpu,
            "patch matmul shape",
            &MatmulParams::new(0, d, patch_len, false, Activation::None, false),
        );
        let embed_shape =
            Uniform::new(gpu, "vision embeddings shape", &VisionEmbeddingsParams::new(0, t, d));
        let ln_shape =
            Uniform::new(gpu, "pre_layrnorm shape", &LayerNormParams::new(0, d, c.tower.eps));
        Ok(VisionTower {
            im2col: embeddings::bind_im2col(&k.im2col, gpu, &im2col_shape, &pixels, &patches),
            patch_matmul: matmul::bind(
                &k.matmul,
                gpu,
                &patch_shape,
                &patches,
                &weights[0],
                None,
                None,
                &patch_embeds,
            ),
            embed: embeddings::bind_vision(
                &k.vision_embeddings,
                gpu,
                &embed_shape,
                &patch_embeds,
                &weights[1],
                &weights[2],
                &embedded,
            ),
            pre_layrnorm: layernorm::bind(
                &k.layernorm,
                gpu,
                &ln_shape,
                &embedded,
                &weights[3],
                &weights[4],
                stream,
            ),
            encoder,
            head,
            config: c.clone(),
            max_batch,
            pixels,
            im2col_shape,
            patch_shape,
            embed_shape,
            ln_shape,
            _weights: weights,
        })
    }

    /// Uploads `batch` images of pixel values (`batch × channels × size × size`, at most
    /// `max_batch`) and records the whole tower into `pass`.
    pub fn record(
        &self,
        gpu: &Gpu,
        pass: &mut wgpu::ComputePass<'_>,
        pixels: &[f32],
        batch: usize,
    ) {
        let c = &self.config;
        let (d, t) = (c.tower.width, c.tokens());
        let patch_len = c.channels * c.patch_size * c.patch_size;
        gpu.queue.write_buffer(&self.pixels, 0, bytemuck::cast_slice(pixels));
        let im2col = Im2colParams::new(batch, c.channels, c.image_size, c.patch_size);
        let patch =
            MatmulParams::new(batch * (t - 1), d, patch_len, false, Activation::None, false);
        let embed = VisionEmbeddingsParams::new(batch, t, d);
        let ln = LayerNormParams::new(batch * t, d, c.tower.eps);
        self.im2col_shape.write(gpu, &im2col);
        self.patch_shape.write(gpu, &patch);
        self.embed_shape.write(gpu, &embed);
        self.ln_shape.write(gpu, &ln);
        self.im2col.dispatch_over(pass, im2col.extent());
        self.patch_matmul.dispatch_over(pass, patch.extent());
        self.embed.dispatch_over(pass, embed.extent());
        self.pre_layrnorm.dispatch_over(pass, ln.extent());
        self.encoder.record(gpu, pass, batch, t);
        let class_rows: Vec<u32> = (0..batch).map(|b| (b * t) as u32).collect();
        self.head.record(gpu, pass, &class_rows);
    }
}
