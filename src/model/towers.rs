//! Both towers on one engine, and what the model asks of them: features of a
//! batch of images or of texts. [`Forward`] hides the engine's type from
//! [`super::ClipModel`], so a model is the same type whatever it runs on.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;

use crate::engine::{Engine, WeightFormat};
use crate::error::{Error, Result};

use super::config::{ClipConfig, Family, TowerConfig};
use super::encoder::Activations;
use super::precision;
use super::text::TextTower;
use super::vision::{VisionInputs, VisionTower};
use super::weights::{self, Weights};

/// Images, and text tokens, per forward pass at most; larger requests are
/// split. Lower when the largest activation would not fit one storage binding.
/// 616 tokens are 8 full-length texts, or 88 short labels of 7 tokens: a text
/// pass is cut at its longest text, so short labels share one pass. The two
/// towers share their activation buffers, sized by the larger need: for
/// ViT-B/32 a batch of 8 images (25 MB) and 616 tokens (14 MB).
const MAX_IMAGES_PER_PASS: usize = 8;
const MAX_TEXT_ROWS_PER_PASS: usize = 8 * 77;

/// Activation buffers (and the vision tower's inputs) get at most this share
/// of the weights' own bytes (and at least room for one image and one
/// full-length text): a small, quantized model gets smaller passes rather
/// than buffers larger than a quarter of itself. Measured on ViT-B/32: GPU
/// memory was 1.32x the q4 weights with passes of 8 images and 616 tokens
/// (29 MB of buffers for 88 MB of weights).
const ACTIVATION_SHARE: f64 = 0.15;

/// Features of one pass, `rows × projection_dim` floats, on their way back.
pub type Pending<'a> = Pin<Box<dyn Future<Output = Result<Vec<f32>>> + 'a>>;

/// The forward passes of a loaded model, whatever engine runs them.
pub trait Forward {
    /// Images per pass at most.
    fn max_images(&self) -> usize;
    /// Text tokens per pass at most (at least one full-length text).
    fn max_text_rows(&self) -> usize;
    /// Checks token ids against the model before anything is written.
    fn check_ids(&self, ids: &[Vec<u32>]) -> Result<()>;
    /// Raw features of `batch` images of pixel values (at most `max_images`).
    fn images<'a>(&'a self, pixels: &'a [f32], batch: usize) -> Pending<'a>;
    /// Raw features of texts (checked; texts × longest ≤ `max_text_rows`).
    fn texts<'a>(&'a self, ids: &'a [Vec<u32>]) -> Pending<'a>;
    /// Tokens (patches and the class token) a dense pass may have at most.
    fn max_dense_tokens(&self) -> usize;
    /// Every token's features (class token first, then the patches row by row)
    /// of one `size × size` picture's pixel values through ClearCLIP's last
    /// block: `(1 + (size / patch)²) × projection_dim` floats. `size` is a
    /// multiple of the patch size within `max_dense_tokens`.
    fn dense<'a>(&'a self, pixels: &'a [f32], size: usize) -> Pending<'a>;
}

pub struct Towers<E: Engine> {
    engine: E,
    projection_dim: usize,
    vision: VisionTower<E>,
    text: TextTower<E>,
    /// Tokens of the largest dense pass the activations hold.
    dense_tokens: usize,
    /// The vision inputs of the last dense pass's size, bound on first use.
    dense_inputs: RefCell<Option<VisionInputs<E>>>,
}

impl<E: Engine> Towers<E> {
    /// Sizes the passes and the shared activations for `engine`, then reads
    /// and binds both towers from `w`. In the file's order (tensors are
    /// sorted by name): text, then vision. Text first also matters for
    /// memory: its token table is the largest tensor, and taken while wasm
    /// memory is still small, the vision layers later reuse its space (vision
    /// first left the heap too fragmented for it: ViT-L/14 fp16 peaked at
    /// 170 MB instead of 115 MB).
    pub async fn load(engine: E, config: &ClipConfig, w: &Weights<'_>) -> Result<Towers<E>> {
        check_fits(&engine, config)?;
        let (v, t) = (&config.vision, &config.text);
        let widest = |c: &TowerConfig| (3 * c.width).max(c.intermediate);
        let (images, text_rows) = pass_sizes(config, engine.format());
        let max_bytes = engine.max_tensor_bytes();
        let max_images = batch_limit(max_bytes, images, v.tokens(), widest(&v.tower));
        let max_text_rows =
            batch_limit(max_bytes, text_rows, 1, widest(&t.tower)).max(t.max_positions);
        let dense_tokens = dense_tokens(config, max_images, max_bytes, widest(&v.tower));
        let act = engine
            .checked("allocating activations", || {
                let image_rows = max_images * v.tokens();
                let rows =
                    [(image_rows, &v.tower), (dense_tokens, &v.tower), (max_text_rows, &t.tower)];
                Activations::new(&engine, &rows)
            })
            .await?;
        let dim = config.projection_dim;
        let text = TextTower::new(&engine, t, w, dim, max_text_rows, &act).await?;
        let vision = VisionTower::new(&engine, v, w, dim, (max_images, dense_tokens), &act).await?;
        let dense_inputs = RefCell::new(None);
        Ok(Towers { engine, projection_dim: dim, vision, text, dense_tokens, dense_inputs })
    }
}

impl<E: Engine> Towers<E> {
    /// Bytes of memory the engine's device has allocated so far.
    pub fn allocated_bytes(&self) -> u64 {
        self.engine.allocated_bytes()
    }
}

impl<E: Engine> Forward for Towers<E> {
    fn max_images(&self) -> usize {
        self.vision.max_batch
    }

    fn max_text_rows(&self) -> usize {
        self.text.max_rows
    }

    fn check_ids(&self, ids: &[Vec<u32>]) -> Result<()> {
        self.text.check_ids(ids)
    }

    fn images<'a>(&'a self, pixels: &'a [f32], batch: usize) -> Pending<'a> {
        let (e, vision) = (&self.engine, &self.vision);
        let record = move |pass: &mut E::Pass<'_>| vision.record(e, pass, pixels, batch);
        Box::pin(e.run(record, vision.head.features(), batch * self.projection_dim))
    }

    fn texts<'a>(&'a self, ids: &'a [Vec<u32>]) -> Pending<'a> {
        let (e, text) = (&self.engine, &self.text);
        let record = move |pass: &mut E::Pass<'_>| text.record(e, pass, ids);
        Box::pin(e.run(record, &text.head.features, ids.len() * self.projection_dim))
    }

    fn max_dense_tokens(&self) -> usize {
        self.dense_tokens
    }

    fn dense<'a>(&'a self, pixels: &'a [f32], size: usize) -> Pending<'a> {
        Box::pin(async move {
            let (e, vision) = (&self.engine, &self.vision);
            let grid = size / vision.config.patch_size;
            let tokens = grid * grid + 1;
            if tokens > self.dense_tokens || grid == 0 {
                return Err(Error::Internal(format!("a dense pass of {tokens} tokens")));
            }
            // Taken out, not borrowed across the pass: a second call meanwhile binds its own.
            let cached = self.dense_inputs.borrow_mut().take();
            let inputs = match cached {
                Some(inputs) if inputs.size == size => inputs,
                _ => vision.inputs_at(e, size).await?,
            };
            let out = match vision.head.dense() {
                Some(dense) => &dense.features,
                None => return Err(Error::Internal("no dense head bound".into())),
            };
            let record = |pass: &mut E::Pass<'_>| vision.record_dense(e, pass, &inputs, pixels);
            let features = e.run(record, out, tokens * self.projection_dim).await;
            *self.dense_inputs.borrow_mut() = Some(inputs);
            features
        })
    }
}

/// The most tokens a heatmap pass may have (none for SigLIP): the image passes' rows, or a
/// picture of three times the model's input size if that is more (ViT-B/32 at
/// 672 px: 442 tokens, 15 MB of activations where 7 images of 50 took 12 MB in
/// q8; the demo model at 144 px: its best pointing-game grid), within one
/// tensor binding (`widest` floats a row at most) and the attention kernel's
/// sequence limit.
fn dense_tokens(config: &ClipConfig, max_images: usize, max_bytes: u64, widest: usize) -> usize {
    let v = &config.vision;
    if v.family == Family::Siglip {
        return 0; // heatmaps are CLIP's (its class-token head over every token)
    }
    let grid = 3 * v.grid();
    let tripled = batch_limit(max_bytes, grid * grid + 1, 1, widest);
    (max_images * v.tokens()).max(tripled).min(crate::ops::attention::MAX_SEQ)
}

/// Bytes `engine` holds for `config`'s tensors (matrices as the engine packs
/// them, the rest as f32), activations aside.
fn tensor_bytes<E: Engine>(engine: &E, config: &ClipConfig) -> u64 {
    let format = engine.format();
    weight_bytes(config, |name, n, k| {
        engine.matrix_bytes(precision::matrix_format(format, config.family, name), n, k)
    })
}

/// Bytes of `config`'s tensors: each matrix as `matrix_bytes(name, n, k)` says,
/// the rest as f32.
fn weight_bytes(config: &ClipConfig, matrix_bytes: impl Fn(&str, usize, usize) -> u64) -> u64 {
    weights::expected(config)
        .iter()
        .map(|e| match e.kind {
            weights::Kind::Matrix => {
                let (n, k) = weights::matrix_dims(&e.shape);
                matrix_bytes(&e.name, n, k)
            }
            weights::Kind::Small => 4 * e.shape.iter().product::<usize>() as u64,
        })
        .sum()
}

/// Refuses, before anything is allocated, a model whose tensors would not fit
/// the engine's memory (a CPU engine in wasm32's 4 GiB), saying how much it
/// needs and what a smaller format would take.
fn check_fits<E: Engine>(engine: &E, config: &ClipConfig) -> Result<()> {
    let Some(limit) = engine.memory_limit() else { return Ok(()) };
    let need = tensor_bytes(engine, config);
    if need <= limit {
        return Ok(());
    }
    let mb = |bytes: u64| bytes.div_ceil(1 << 20);
    Err(Error::Input(format!(
        "this model takes {} MB of memory with {} weights on the CPU engine, more than the {} MB \
         a WebAssembly page may use: load it with q8 or q4 weights (about a third of f32's size \
         or less), or on WebGPU",
        mb(need),
        engine.format().name(),
        mb(limit)
    )))
}

/// How many sequences of `rows_each` rows fit when the widest activation has
/// `width` floats per row and a tensor holds at most `max_bytes`.
fn batch_limit(max_bytes: u64, wanted: usize, rows_each: usize, width: usize) -> usize {
    let per_item = (rows_each * width * 4) as u64;
    ((max_bytes / per_item) as usize).clamp(1, wanted)
}

/// Images and text tokens per pass for `config` with weights in `format`: the
/// most of each (8 images, 616 tokens) within [`ACTIVATION_SHARE`] of the weights.
fn pass_sizes(config: &ClipConfig, format: WeightFormat) -> (usize, usize) {
    // In f64, not usize: on wasm32 a large model's bytes do not fit a usize (`as` would
    // wrap them to a small number); a float-to-int `as` saturates. Such a model is
    // refused by `check_fits` anyway.
    let weights = weight_bytes(config, |name, n, k| {
        precision::matrix_format(format, config.family, name).layout(n, k).bytes() as u64
    }) as f64;
    let budget = (weights * ACTIVATION_SHARE) as usize;
    // Floats per row of the shared activations: stream, other, normed, attention out, qkv, hidden.
    let per_row = |c: &TowerConfig| 4 * (7 * c.width + c.intermediate);
    let v = &config.vision;
    let tokens = v.tokens();
    let patch_len = v.channels * v.patch_size * v.patch_size;
    // The vision tower's own inputs: pixels, patches, patch and token embeddings.
    let vision_inputs = 4
        * (v.channels * v.image_size * v.image_size
            + v.grid() * v.grid() * (patch_len + v.tower.width)
            + tokens * v.tower.width);
    let images =
        (budget / (tokens * per_row(&v.tower) + vision_inputs)).clamp(1, MAX_IMAGES_PER_PASS);
    // The towers share the activations; the vision inputs come on top of them.
    let text_budget = budget.saturating_sub(images * vision_inputs);
    let text_rows = (text_budget / per_row(&config.text.tower))
        .clamp(config.text.max_positions, MAX_TEXT_ROWS_PER_PASS);
    (images, text_rows)
}

#[cfg(test)]
mod tests {
    use super::{check_fits, pass_sizes};
    use crate::engine::cpu::CpuEngine;
    use crate::engine::WeightFormat;
    use crate::model::ClipConfig;

    #[test]
    fn a_model_too_big_for_the_engine_is_refused_with_its_size() {
        let b32 = ClipConfig::from_json("{}").unwrap();
        // f32 panels: 150,994,944 weights in matrices (every n a multiple of the 128-column
        // panels natively, every k of 4) and 282,369 small floats, 4 bytes each: 605,109,252
        // bytes, 577.1 MiB, said as 578. q8: 1.125 bytes a weight, 163 MiB.
        let limit = 400 << 20;
        let f32 = CpuEngine::new(WeightFormat::F32).with_memory_limit(limit);
        let message = check_fits(&f32, &b32).unwrap_err().to_string();
        assert!(
            message.starts_with("this model takes 578 MB of memory with f32 weights on the CPU engine, more than the 400 MB"),
            "{message}"
        );
        assert!(message.contains("load it with q8 or q4 weights"), "{message}");
        let q8 = CpuEngine::new(WeightFormat::Q8).with_memory_limit(limit);
        assert!(check_fits(&q8, &b32).is_ok());
    }

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
        // q4: 0.5625 bytes per weight, and 0.5 more for the 13,238,272 kept in q8
        // (model::precision: 3,014,656 in the edges, 7,077,888 and 3,145,728 in the two
        // first layers): 92,683,268 bytes, budget 13,902,490: 4 images, then
        // (13,902,490 - 4 x 1,508,352) / 22,528 = 349 tokens.
        assert_eq!(pass_sizes(&b32, WeightFormat::Q4), (4, 349));
    }
}
