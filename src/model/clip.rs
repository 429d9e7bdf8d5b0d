//! `ClipModel`: loads a Hub CLIP from its files, embeds images and texts on the
//! GPU, and scores labels. Every entry point is async; nothing blocks.

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::image::{self, PreprocessConfig, RgbImage};
use crate::ops::{KernelFamily, Kernels, WeightFormat};
use crate::tokenizer::ClipTokenizer;

use super::config::ClipConfig;
use super::encoder::{Activations, Head};
use super::files::{ModelFiles, ModelSource, FILE_NAMES};
use super::model_file::Plan;
use super::scores;
use super::text::TextTower;
use super::vision::VisionTower;
use super::weights::{BytesSource, Weights};

/// Images, and text tokens, per forward pass at most; larger requests are
/// split. Lower when the largest activation would not fit one storage binding.
/// 616 tokens are 8 full-length texts, or 88 short labels of 7 tokens: a text
/// pass is cut at its longest text, so short labels share one pass. The two
/// towers share their activation buffers, sized by the larger need: for
/// ViT-B/32 a batch of 8 images (25 MB) and 616 tokens (14 MB).
const MAX_IMAGES_PER_PASS: usize = 8;
const MAX_TEXT_ROWS_PER_PASS: usize = 8 * 77;

/// One label's probability.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub label: String,
    pub probability: f64,
}

pub struct ClipModel {
    gpu: Gpu,
    pub config: ClipConfig,
    pub preprocess: PreprocessConfig,
    pub tokenizer: ClipTokenizer,
    /// The raw parameter; scores use `exp(logit_scale)`.
    pub logit_scale: f32,
    /// Bytes of the GPU buffers its load created: weights, activations, inputs.
    pub gpu_bytes: u64,
    vision: VisionTower,
    text: TextTower,
    /// Held from a pass's first input write to its submit: on one thread (the
    /// web) that span has no `.await`, but native callers may share the model
    /// across threads.
    submitting: std::sync::Mutex<()>,
}

/// How many sequences of `rows_each` rows fit when the widest activation has `width` floats per row.
fn batch_limit(gpu: &Gpu, wanted: usize, rows_each: usize, width: usize) -> usize {
    let per_item = (rows_each * width * 4) as u64;
    ((gpu.max_binding_bytes() / per_item) as usize).clamp(1, wanted)
}

/// Activation buffers (and the vision tower's inputs) get at most this share of the weights' own GPU bytes
/// (and at least room for one image and one full-length text): a small,
/// quantized model gets smaller passes rather than buffers larger than a
/// quarter of itself. Measured on ViT-B/32: GPU memory was 1.32x the q4
/// file's size with passes of 8 images and 616 tokens (29 MB of buffers for
/// 88 MB of weights).
const ACTIVATION_SHARE: f64 = 0.15;

/// Images and text tokens per pass for `config` with weights in `format`: the
/// most of each (8 images, 616 tokens) within [`ACTIVATION_SHARE`] of the weights.
fn pass_sizes(config: &ClipConfig, format: WeightFormat) -> (usize, usize) {
    let weights: usize = super::weights::expected(config)
        .iter()
        .map(|e| match e.kind {
            super::weights::Kind::Matrix => {
                let (n, k) = super::weights::matrix_dims(&e.shape);
                format.layout(n, k).bytes()
            }
            super::weights::Kind::Small => 4 * e.shape.iter().product::<usize>(),
        })
        .sum();
    let budget = (weights as f64 * ACTIVATION_SHARE) as usize;
    // Floats per row of the shared activations: stream, other, normed, attention out, qkv, hidden.
    let per_row = |c: &super::config::TowerConfig| 4 * (7 * c.width + c.intermediate);
    let v = &config.vision;
    let tokens = v.tokens();
    let patch_len = v.channels * v.patch_size * v.patch_size;
    // The vision tower's own inputs: pixels, patches, patch and token embeddings.
    let vision_inputs = 4
        * (v.channels * v.image_size * v.image_size
            + (tokens - 1) * (patch_len + v.tower.width)
            + tokens * v.tower.width);
    let images =
        (budget / (tokens * per_row(&v.tower) + vision_inputs)).clamp(1, MAX_IMAGES_PER_PASS);
    // The towers share the activations; the vision inputs come on top of them.
    let text_budget = budget.saturating_sub(images * vision_inputs);
    let text_rows = (text_budget / per_row(&config.text.tower))
        .clamp(config.text.max_positions, MAX_TEXT_ROWS_PER_PASS);
    (images, text_rows)
}

/// Groups text indices into passes of at most `max_rows` tokens, each pass padded to its
/// longest text: shortest first, so similar lengths share a pass.
fn text_passes(ids: &[Vec<u32>], max_rows: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| ids[i].len());
    let mut passes: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match passes.last_mut() {
            // Sorted ascending: text i is the longest of the pass it joins.
            Some(pass) if (pass.len() + 1) * ids[i].len() <= max_rows => pass.push(i),
            _ => passes.push(vec![i]),
        }
    }
    passes
}

impl ClipModel {
    /// Compiles the kernels of `family` (or else of the one
    /// [`KernelFamily::choose`] picks) for weights in `format` (or else the one
    /// a webclip model file stores, f32 for a checkpoint), then
    /// [`ClipModel::load_source`].
    pub async fn load(
        gpu: &Gpu,
        files: &ModelFiles,
        family: Option<KernelFamily>,
        format: Option<WeightFormat>,
    ) -> Result<ClipModel> {
        let weights = BytesSource { bytes: &files.weights, name: FILE_NAMES[1].into() };
        let source = ModelSource::open(&weights, Some(files.texts())).await?;
        let kernels =
            Kernels::new(gpu, KernelFamily::choose(gpu, family)?, source.format(format)?).await?;
        Self::load_source(gpu, &kernels, source).await
    }

    /// Checks every file (the config, and each tensor's name, dtype, shape and
    /// bytes against the safetensors header) before the first upload, then
    /// reads, packs in `kernels.format` and uploads the weights a tensor (a
    /// block of the encoder) at a time, binding all buffers to `kernels`.
    /// Kernels compiled once per device serve every model on it.
    pub async fn load_source(
        gpu: &Gpu,
        kernels: &Kernels,
        source: ModelSource<'_>,
    ) -> Result<ClipModel> {
        let ModelSource { weights, header, texts, record } = source;
        let config = ClipConfig::from_json(&texts.config)?;
        let preprocess = PreprocessConfig::from_json(&texts.preprocessor)?;
        let size = config.vision.image_size as u32;
        if (preprocess.crop_height, preprocess.crop_width) != (size, size)
            || !preprocess.do_center_crop
        {
            return Err(Error::Config(format!("preprocessor_config.json crops to {}x{} but the vision tower takes {size}x{size} images", preprocess.crop_width, preprocess.crop_height)));
        }
        let tokenizer = ClipTokenizer::from_bytes(&texts.tokenizer)?;
        let mut w = Weights::check(weights, header, &config, kernels.format)?;
        if let Some(record) = record {
            w = w.recording(record.sink, Plan::new(&texts, kernels.format, &record.source)?);
        }
        let allocated_before = gpu.allocated_bytes();

        let (v, t) = (&config.vision, &config.text);
        let widest = |c: &super::config::TowerConfig| (3 * c.width).max(c.intermediate);
        let (images, text_rows) = pass_sizes(&config, kernels.format);
        let max_images = batch_limit(gpu, images, v.tokens(), widest(&v.tower));
        let max_text_rows = batch_limit(gpu, text_rows, 1, widest(&t.tower)).max(t.max_positions);
        let act = gpu
            .checked("allocating activations", || {
                Activations::new(
                    gpu,
                    &[(max_images * v.tokens(), &v.tower), (max_text_rows, &t.tower)],
                )
            })
            .await?;
        // In the file's order (tensors are sorted by name): logit_scale, then text, then
        // vision. Text first also matters for memory: its token table is the largest tensor,
        // and taken while wasm memory is still small, the vision layers later reuse its space
        // (vision first left the heap too fragmented for it: ViT-L/14 fp16 peaked at 170 MB
        // instead of 115 MB).
        let logit_scale = w.scalar("logit_scale").await?;
        let text =
            TextTower::new(gpu, kernels, t, &w, config.projection_dim, max_text_rows, &act).await?;
        let vision =
            VisionTower::new(gpu, kernels, v, &w, config.projection_dim, max_images, &act).await?;
        w.finish_recording().await?;
        let gpu_bytes = gpu.allocated_bytes() - allocated_before;
        Ok(ClipModel {
            gpu: gpu.clone(),
            config,
            preprocess,
            tokenizer,
            logit_scale,
            gpu_bytes,
            vision,
            text,
            submitting: Default::default(),
        })
    }

    /// Image features from pixel values `[n, channels, size, size]` (row-major, flat),
    /// as `get_image_features`; `normalized` gives unit vectors instead.
    pub async fn embed_pixels(&self, pixels: &[f32], normalized: bool) -> Result<Vec<Vec<f32>>> {
        let v = &self.config.vision;
        let per_image = v.channels * v.image_size * v.image_size;
        if pixels.is_empty() || !pixels.len().is_multiple_of(per_image) {
            return Err(Error::Input(format!(
                "pixel values hold {} floats, not a whole number of {}x{}x{} images",
                pixels.len(),
                v.channels,
                v.image_size,
                v.image_size
            )));
        }
        let mut out = Vec::new();
        for chunk in pixels.chunks(per_image * self.vision.max_batch) {
            let n = chunk.len() / per_image;
            out.extend(
                self.run(&self.vision.head, n, normalized, |pass| {
                    self.vision.record(&self.gpu, pass, chunk, n)
                })
                .await?,
            );
        }
        Ok(out)
    }

    /// Preprocesses (as `CLIPImageProcessor`) and embeds decoded images.
    pub async fn embed_images(
        &self,
        images: &[RgbImage],
        normalized: bool,
    ) -> Result<Vec<Vec<f32>>> {
        let pixels: Vec<f32> =
            images.iter().flat_map(|im| image::preprocess(im, &self.preprocess)).collect();
        self.embed_pixels(&pixels, normalized).await
    }

    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        self.tokenizer.encode_batch(texts)
    }

    /// Text features from token ids (with start and end tokens), as `get_text_features`.
    /// Texts are grouped by length into as few passes as the token budget allows.
    pub async fn embed_ids(&self, ids: &[Vec<u32>], normalized: bool) -> Result<Vec<Vec<f32>>> {
        self.embed_ids_reporting(ids, normalized, &|_| {}).await
    }

    /// [`ClipModel::embed_ids`], calling `done(texts embedded so far)` after
    /// each pass (a thousand labels take several: the page shows progress).
    pub async fn embed_ids_reporting(
        &self,
        ids: &[Vec<u32>],
        normalized: bool,
        done: &dyn Fn(usize),
    ) -> Result<Vec<Vec<f32>>> {
        self.text.check_ids(ids)?;
        let mut out = vec![Vec::new(); ids.len()];
        let mut finished = 0;
        for pass in text_passes(ids, self.text.max_rows) {
            let chunk: Vec<Vec<u32>> = pass.iter().map(|&i| ids[i].clone()).collect();
            let rows = self
                .run(&self.text.head, chunk.len(), normalized, |p| {
                    self.text.record(&self.gpu, p, &chunk)
                })
                .await?;
            finished += rows.len();
            for (i, row) in pass.into_iter().zip(rows) {
                out[i] = row;
            }
            done(finished);
        }
        Ok(out)
    }

    pub async fn embed_texts(&self, texts: &[&str], normalized: bool) -> Result<Vec<Vec<f32>>> {
        self.embed_ids(&self.tokenize(texts)?, normalized).await
    }

    /// Zero-shot probabilities of `labels` for one image, in label order. With
    /// templates (`"a photo of a {}"`), each label's prompts are averaged.
    pub async fn classify(
        &self,
        image: &RgbImage,
        labels: &[String],
        templates: &[String],
    ) -> Result<Vec<Score>> {
        let prompts = self.embed_prompts(labels, templates).await?;
        let image = self.embed_images(std::slice::from_ref(image), true).await?;
        let probs = self.zero_shot(&image[0], &prompts, templates);
        Ok(labels
            .iter()
            .zip(probs)
            .map(|(label, probability)| Score { label: label.clone(), probability })
            .collect())
    }

    /// The text side of [`ClipModel::classify`]: checks labels and templates,
    /// then embeds every prompt (label-major, unit length).
    pub async fn embed_prompts(
        &self,
        labels: &[String],
        templates: &[String],
    ) -> Result<Vec<Vec<f32>>> {
        scores::check_inputs(labels, templates)?;
        let prompts = scores::prompts(labels, templates);
        let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
        self.embed_texts(&refs, true).await
    }

    /// For each label, whether one of its prompts is longer than the text
    /// encoder reads (77 tokens), so that only its beginning counts.
    pub fn truncated_labels(&self, labels: &[String], templates: &[String]) -> Result<Vec<bool>> {
        let per_label = templates.len().max(1);
        let cut: Vec<bool> = scores::prompts(labels, templates)
            .iter()
            .map(|p| self.tokenizer.truncates(p))
            .collect::<Result<_>>()?;
        Ok(cut.chunks(per_label).map(|c| c.iter().any(|&t| t)).collect())
    }

    /// Probabilities over labels from an image embedding and [`ClipModel::embed_prompts`]' output.
    pub fn zero_shot(&self, image: &[f32], prompts: &[Vec<f32>], templates: &[String]) -> Vec<f64> {
        scores::zero_shot(image, prompts, templates.len().max(1), self.logit_scale)
    }

    /// One forward pass: one command encoder, one compute pass, one submit (with
    /// the readback copy), then the `n` feature rows come back. Inputs are
    /// written, recorded and submitted without an `.await` in between and under
    /// `submitting`, so concurrent calls on one model cannot overwrite each
    /// other's inputs.
    async fn run(
        &self,
        head: &Head,
        n: usize,
        normalized: bool,
        record: impl FnOnce(&mut wgpu::ComputePass<'_>),
    ) -> Result<Vec<Vec<f32>>> {
        let dim = self.config.projection_dim;
        let out = &head.features;
        let pending = self
            .gpu
            .checked("running a forward pass", || {
                let _one_at_a_time =
                    self.submitting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut encoder =
                    self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("clip forward"),
                    });
                record(&mut encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("clip forward"),
                    timestamp_writes: None,
                }));
                self.gpu.submit_with_readback(encoder, out, n * dim)
            })
            .await?;
        let flat = pending.read(&self.gpu).await?;
        Ok(flat
            .chunks(dim)
            .map(|row| if normalized { scores::unit_length(row) } else { row.to_vec() })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{pass_sizes, text_passes};
    use crate::model::ClipConfig;
    use crate::ops::WeightFormat;

    #[test]
    fn passes_shrink_with_the_weights() {
        // ViT-B/32: 150,994,944 weights in matrices and 282,369 floats (1,129,476 bytes) in
        // small tensors. An image costs 50 rows x 4 x (7 x 768 + 3072) bytes of activations
        // (1,689,600) plus 4 x (3 x 224² + 49 x (3072 + 768) + 50 x 768) of inputs (1,508,352);
        // a text token 4 x (7 x 512 + 2048) = 22,528.
        let b32 = ClipConfig::from_json("{}").unwrap();
        // f32: a budget of 90.8 MB holds the most (8 images, 616 tokens).
        assert_eq!(pass_sizes(&b32, WeightFormat::F32), (8, 616));
        // q8: 1.0625 bytes per weight: 161,561,604 bytes, budget 24,234,240: 7 images, then
        // (24,234,240 - 7 x 1,508,352) / 22,528 = 607 tokens.
        assert_eq!(pass_sizes(&b32, WeightFormat::Q8), (7, 607));
        // q4: 0.5625 bytes per weight: 86,064,132 bytes, budget 12,909,619: 4 images, 305 tokens.
        assert_eq!(pass_sizes(&b32, WeightFormat::Q4), (4, 305));
    }

    #[test]
    fn text_passes_fill_the_token_budget() {
        let ids = |lens: &[usize]| lens.iter().map(|&n| vec![0u32; n]).collect::<Vec<_>>();
        // 6 tokens per pass: the two 2-token texts and the 3-token one pad to 3 (9 > 6).
        assert_eq!(text_passes(&ids(&[3, 2, 6, 2]), 6), vec![vec![1, 3], vec![0], vec![2]]);
        // 1,000 labels of 7 tokens in a 2,464-token budget: 352 per pass, 3 passes.
        let passes = text_passes(&ids(&[7; 1000]), 2464);
        assert_eq!(passes.iter().map(Vec::len).collect::<Vec<_>>(), [352, 352, 296]);
        // One text longer than the budget still gets a pass of its own.
        assert_eq!(text_passes(&ids(&[9, 1]), 4), vec![vec![1], vec![0]]);
    }
}
