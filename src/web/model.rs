//! `Model`: the wasm face of a loaded [`ClipModel`], with its prompt cache and
//! the timings of its last calls.

use std::cell::{Cell, RefCell};

use js_sys::{Array, Float32Array};
use wasm_bindgen::prelude::*;

use super::image::Image;
use super::object;
use crate::clock::now_ms as now;
use crate::image::RgbImage;
use crate::model::{ClipModel, PromptCache};

/// Milliseconds: loading (parse, check, upload), kernel compilation, and the
/// image (decode, preprocess, forward pass) and text side of the last call.
#[derive(Clone, Copy, Default)]
pub(super) struct Timings {
    pub load_ms: f64,
    pub compile_ms: f64,
    pub image_ms: f64,
    pub text_ms: f64,
    /// Prompts the last classify call had to encode (the rest came from the cache).
    pub encoded_prompts: usize,
}

/// A loaded CLIP, with the embeddings of the prompts it has encoded.
#[wasm_bindgen]
pub struct Model {
    inner: ClipModel,
    timings: Cell<Timings>,
    prompts: RefCell<PromptCache>,
}

#[wasm_bindgen]
impl Model {
    /// Zero-shot scores of `labels` for `image`, in label order: `{ probs,
    /// cosines, truncated }` (`Float64Array`s; a cosine is the label's raw
    /// similarity, which still means something with a single label;
    /// `truncated`, booleans: the label is longer than the 77 tokens CLIP
    /// reads, so only its beginning counted). Each template (`"a photo of
    /// {}"`) makes one prompt per label, averaged as in the CLIP paper; with
    /// none, the labels are the prompts.
    ///
    /// [`ClipModel::classify`]'s two halves, timed apart; prompts encoded by an
    /// earlier call come from the model's cache (keyed by the prompt text,
    /// least recently used out first), so the same labels cost no text pass.
    pub async fn classify(
        &self,
        image: &Image,
        labels: Vec<String>,
        templates: Vec<String>,
        progress: Option<js_sys::Function>,
    ) -> Result<JsValue, JsError> {
        let start = now();
        let prompts = self.prompt_embeddings(&labels, &templates, progress).await?;
        let text_ms = now() - start;
        // Unnormalised: the scores normalise in f64 anyway (so this equals
        // scoreEmbedding of embedImages' result, to the bit).
        let features = self.embed(image).await?;
        self.timings.set(Timings { text_ms, ..self.timings.get() });
        Ok(self.scores(&features, &prompts, &labels, &templates)?)
    }

    /// [`Model::classify`] for an image embedded earlier (`embedImages`): only
    /// the labels' side runs (from the prompt cache when it can), so changing
    /// labels re-encodes no image.
    #[wasm_bindgen(js_name = scoreEmbedding)]
    pub async fn score_embedding(
        &self,
        embedding: Vec<f32>,
        labels: Vec<String>,
        templates: Vec<String>,
        progress: Option<js_sys::Function>,
    ) -> Result<JsValue, JsError> {
        if embedding.len() != self.inner.config.projection_dim {
            return Err(JsError::new(&format!(
                "the image embedding has {} values; this model's have {}",
                embedding.len(),
                self.inner.config.projection_dim
            )));
        }
        let start = now();
        let prompts = self.prompt_embeddings(&labels, &templates, progress).await?;
        self.timings.set(Timings { text_ms: now() - start, ..self.timings.get() });
        Ok(self.scores(&embedding, &prompts, &labels, &templates)?)
    }

    /// Where in `image` each label matches (`webclip::model::heatmap`: ClearCLIP,
    /// one dense vision pass for all labels at `resolution` px, by default twice
    /// the model's input): `{ labels, rows, cols, resolution, maps, cosines,
    /// crop: { x, y, width, height }, descriptions, overlays? }`. `maps` and
    /// `cosines` hold a `Float32Array` per label (row-major); `crop` is the part
    /// of the picture the grid covers, in its pixels. With `overlay_px`, each
    /// label's map also comes as `{ width, height, data }` RGBA (viridis, opaque)
    /// of about that side, to draw over `crop`. Prompts come from the cache.
    pub async fn heatmap(
        &self,
        image: &Image,
        labels: Vec<String>,
        templates: Vec<String>,
        resolution: Option<u32>,
        overlay_px: Option<u32>,
    ) -> Result<JsValue, JsError> {
        let resolution = resolution.map(|r| r as usize);
        self.inner.heatmap_resolution(resolution)?;
        let start = now();
        let prompts = self.prompt_embeddings(&labels, &templates, None).await?;
        let text_ms = now() - start;
        let per_label = templates.len().max(1);
        let start = now();
        let map =
            self.inner.heatmap_of_prompts(&image.rgb, &labels, &prompts, per_label, resolution);
        let map = map.await?;
        let image_ms = image.decode_ms + now() - start;
        self.timings.set(Timings { image_ms, text_ms, ..self.timings.get() });
        Ok(super::heatmap::to_js(&map, overlay_px.map(|px| px as usize)))
    }

    /// The largest `resolution` [`Model::heatmap`] takes, in px.
    #[wasm_bindgen(getter, js_name = maxHeatmapResolution)]
    pub fn max_heatmap_resolution(&self) -> usize {
        self.inner.max_heatmap_resolution()
    }

    /// Projected features of several images in as few passes as the device
    /// allows (`get_image_features`, not normalised), one `Float32Array` each.
    #[wasm_bindgen(js_name = embedImages)]
    pub async fn embed_images(&self, images: Vec<Image>) -> Result<Array, JsError> {
        if images.is_empty() {
            return Err(JsError::new("no images given"));
        }
        let start = now();
        let decode_ms: f64 = images.iter().map(|i| i.decode_ms).sum();
        let pictures: Vec<RgbImage> = images.into_iter().map(|i| i.rgb).collect();
        let rows = self.inner.embed_images(&pictures).await?.raw();
        let image_ms = decode_ms + now() - start;
        self.timings.set(Timings { image_ms, ..self.timings.get() });
        Ok(rows.iter().map(|r| Float32Array::from(r.as_slice())).collect())
    }

    /// Projected text features (`get_text_features`, not normalised), one
    /// `Float32Array` per text.
    #[wasm_bindgen(js_name = embedTexts)]
    pub async fn embed_texts(&self, texts: Vec<String>) -> Result<Array, JsError> {
        if texts.is_empty() {
            return Err(JsError::new("no texts given"));
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let start = now();
        let rows = self.inner.embed_texts(&refs).await?.raw();
        self.timings.set(Timings { text_ms: now() - start, ..self.timings.get() });
        Ok(rows.iter().map(|r| Float32Array::from(r.as_slice())).collect())
    }

    /// `{ loadMs, compileMs, imageMs, textMs, encodedPrompts }`; the last three
    /// describe the latest call that computed them.
    #[wasm_bindgen(getter)]
    pub fn timings(&self) -> JsValue {
        let t = self.timings.get();
        object(&[
            ("loadMs", t.load_ms.into()),
            ("compileMs", t.compile_ms.into()),
            ("imageMs", t.image_ms.into()),
            ("textMs", t.text_ms.into()),
            ("encodedPrompts", (t.encoded_prompts as f64).into()),
        ])
    }

    /// How its matrices live on the GPU: "f32", "f16", "q8" or "q4".
    #[wasm_bindgen(getter)]
    pub fn weights(&self) -> String {
        self.inner.weights.name().into()
    }

    /// Bytes of GPU buffers the model holds (weights, activations, inputs).
    #[wasm_bindgen(getter, js_name = gpuBytes)]
    pub fn gpu_bytes(&self) -> f64 {
        self.inner.gpu_bytes as f64
    }

    /// Length of every embedding.
    #[wasm_bindgen(getter, js_name = projectionDim)]
    pub fn projection_dim(&self) -> usize {
        self.inner.config.projection_dim
    }

    /// `"clip"` or `"siglip"` (`config.json`'s `model_type`).
    #[wasm_bindgen(getter)]
    pub fn family(&self) -> String {
        self.inner.config.family.model_type().into()
    }

    /// How `probs` are made: `"softmax"` (CLIP: they sum to 1 over the labels) or
    /// `"sigmoid"` (SigLIP: each label's probability on its own).
    #[wasm_bindgen(getter)]
    pub fn scoring(&self) -> String {
        match self.inner.scoring.independent() {
            true => "sigmoid".into(),
            false => "softmax".into(),
        }
    }

    /// Side of the square the vision tower takes, in pixels.
    #[wasm_bindgen(getter, js_name = imageSize)]
    pub fn image_size(&self) -> usize {
        self.inner.config.vision.image_size
    }

    /// One image's features (not normalised); the image timing counts its decoding too.
    async fn embed(&self, image: &Image) -> Result<Vec<f32>, JsError> {
        let start = now();
        let mut rows = self.inner.embed_images(std::slice::from_ref(&image.rgb)).await?.raw();
        let image_ms = image.decode_ms + now() - start;
        self.timings.set(Timings { image_ms, ..self.timings.get() });
        Ok(rows.swap_remove(0))
    }
}

impl Model {
    pub(super) fn new(inner: ClipModel, timings: Timings) -> Model {
        Model { inner, timings: Cell::new(timings), prompts: RefCell::default() }
    }

    /// Every prompt's embedding, from the cache where it can (recording how
    /// many were encoded); `progress(encoded, toEncode)` is called after each
    /// text pass.
    async fn prompt_embeddings(
        &self,
        labels: &[String],
        templates: &[String],
        progress: Option<js_sys::Function>,
    ) -> crate::Result<Vec<Vec<f32>>> {
        let report = |done: usize, total: usize| {
            if let Some(f) = &progress {
                let _ = f.call2(&JsValue::NULL, &(done as f64).into(), &(total as f64).into());
            }
        };
        // Taken out for the await (no RefCell borrow may span it): were calls on
        // one model to overlap (the worker queues them), one would just miss
        // the other's entries.
        let mut cache = self.prompts.take();
        let result = cache.embed_prompts_reporting(&self.inner, labels, templates, &report).await;
        self.prompts.replace(cache);
        let (prompts, encoded_prompts) = result?;
        self.timings.set(Timings { encoded_prompts, ..self.timings.get() });
        Ok(prompts)
    }

    /// `{ probs, cosines, truncated }` of one image embedding against the
    /// prompts; `truncated[i]`: label i is longer than the model reads.
    fn scores(
        &self,
        image: &[f32],
        prompts: &[Vec<f32>],
        labels: &[String],
        templates: &[String],
    ) -> crate::Result<JsValue> {
        let answer = self.inner.zero_shot(image, prompts, templates);
        let truncated: Array = self
            .inner
            .truncated_labels(labels, templates)?
            .into_iter()
            .map(JsValue::from)
            .collect();
        Ok(object(&[
            ("probs", js_sys::Float64Array::from(&answer.probabilities[..]).into()),
            ("cosines", js_sys::Float64Array::from(&answer.cosines[..]).into()),
            ("truncated", truncated.into()),
        ]))
    }
}
