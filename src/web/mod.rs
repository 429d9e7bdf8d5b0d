//! The browser API (wasm32 only): a thin wasm-bindgen layer over [`ClipModel`].
//!
//! - [`Engine`]: the WebGPU device and the compiled kernels, one per page or
//!   worker. Every model loaded through it shares them, and creating it can
//!   overlap the weights download.
//! - [`Image`]: a decoded picture, from encoded file bytes (Pillow-exact) or
//!   from canvas RGBA.
//! - [`Model`]: classify, embed images and texts, and the timings of the last
//!   calls.
//!
//! Errors become `JsError`s carrying the engine's message, which names the
//! file, tensor, image or label at fault. Calls on one model may overlap: each
//! forward pass writes its inputs and submits without yielding in between
//! (`ClipModel::run`); `www/worker.js` still queues them, for fair ordering.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;

use js_sys::{Array, Float32Array, Object, Reflect};
use wasm_bindgen::prelude::*;

use crate::gpu::Gpu;
use crate::image::{self, RgbImage};
use crate::model::weights::{ByteSink, TensorSource};
use crate::model::{ClipModel, ModelSource, ModelTexts, PromptCache, Record};
use crate::ops::{KernelFamily, Kernels, WeightFormat};

use crate::clock::now_ms as now;

/// A plain JS object (it survives `postMessage`, unlike wasm-bindgen classes).
fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (key, value) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&o, &(*key).into(), value);
    }
    o.into()
}

/// The WebGPU device and the compiled kernels of one family, per weight format.
#[wasm_bindgen]
pub struct Engine {
    gpu: Gpu,
    family: KernelFamily,
    /// f32's kernels, compiled with the engine; other formats' on first use.
    kernels: RefCell<Vec<(Kernels, f64)>>,
}

#[wasm_bindgen]
impl Engine {
    /// Opens the adapter's device (with all of its limits) and compiles the
    /// kernels of `family` ("tiled" or "registers"; by default the adapter's:
    /// registers on a CPU-backed one) for f32 weights. Rejects with a message
    /// when the browser has no WebGPU adapter.
    pub async fn create(family: Option<String>) -> Result<Engine, JsError> {
        console_error_panic_hook::set_once();
        let forced = family.as_deref().map(KernelFamily::parse).transpose()?;
        let gpu = Gpu::new().await?;
        let family = KernelFamily::choose(&gpu, forced)?;
        let engine = Engine { gpu, family, kernels: RefCell::default() };
        engine.kernels_for(WeightFormat::F32).await?;
        Ok(engine)
    }

    /// The kernel family in use: "tiled" or "registers".
    #[wasm_bindgen(getter)]
    pub fn family(&self) -> String {
        self.family.name().into()
    }

    /// The kernel benchmark (`webclip bench-kernels`) on this engine's family,
    /// for weights in `weights` (default f32; attention and LayerNorm only with
    /// f32), as a JSON array of `{ family, kernel, weights, shape, flops, median_ms, gflops, ... }`.
    #[wasm_bindgen(js_name = benchKernels)]
    pub async fn bench_kernels(
        &self,
        samples: usize,
        only: String,
        weights: Option<String>,
    ) -> Result<String, JsError> {
        let format =
            weights.as_deref().map(WeightFormat::parse).transpose()?.unwrap_or(WeightFormat::F32);
        let (kernels, _) = self.kernels_for(format).await?;
        let timings = crate::ops::bench::run(&self.gpu, &kernels, samples.max(1), &only).await?;
        Ok(serde_json::to_string(&timings)?)
    }

    /// What wgpu knows of the adapter in a browser: `{ name, software,
    /// maxBindingBytes }` (`name` is often empty: browsers hide it).
    /// `maxBindingBytes` bounds the batch sizes and the largest model.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> JsValue {
        let a = &self.gpu.adapter;
        object(&[
            ("name", a.name.as_str().into()),
            ("software", (a.device_type == wgpu::DeviceType::Cpu).into()),
            ("maxBindingBytes", (self.gpu.max_binding_bytes() as f64).into()),
        ])
    }

    /// Why the device was lost (`"Destroyed: ..."`), or undefined while it works.
    #[wasm_bindgen(getter)]
    pub fn lost(&self) -> Option<String> {
        self.gpu.lost()
    }

    /// Destroys the device as a driver reset would: the call running fails,
    /// and so does every later one on this engine (the worker then makes a new
    /// one). For tests of recovery from device loss.
    #[wasm_bindgen(js_name = destroyDevice)]
    pub fn destroy_device(&self) {
        self.gpu.destroy();
    }

    /// Time spent compiling the f32 kernels, in milliseconds.
    #[wasm_bindgen(getter, js_name = compileMs)]
    pub fn compile_ms(&self) -> f64 {
        self.kernels.borrow().first().map_or(0.0, |(_, ms)| *ms)
    }

    /// Loads a model, streaming its weights file: `source` is
    /// `{ read(offset, length): Promise<Uint8Array>, length?: number, name: string }`
    /// (`length`, when the reader knows it, lets a truncated file be reported
    /// before anything is read). `config`, `tokenizer` and `preprocessor` are a
    /// directory's other files; all absent for a webclip model file, whose
    /// header holds them. The header is read and every tensor checked before
    /// the first upload; then tensors are read one at a time (a block of the
    /// encoder at most is in wasm memory). `weights` ("f32", "f16", "q8", "q4")
    /// packs a checkpoint's matrices while loading; default: a model file's
    /// own format, f32 for a checkpoint. `record`, `{ write(offset, bytes), source }`,
    /// receives the webclip model file of what was loaded, as it loads (any
    /// order, header last; `bytes` is a view into wasm memory, valid during
    /// the call): the worker caches a Hub download so.
    #[wasm_bindgen(js_name = loadModel)]
    pub async fn load_model(
        &self,
        source: JsValue,
        config: Option<String>,
        tokenizer: Option<Vec<u8>>,
        preprocessor: Option<String>,
        weights: Option<String>,
        record: Option<Object>,
    ) -> Result<Model, JsError> {
        let source = JsSource::new(source)?;
        let sink = record.map(JsSink::new).transpose()?;
        let texts = match (config, tokenizer, preprocessor) {
            (Some(config), Some(tokenizer), Some(preprocessor)) => Some(ModelTexts { config, tokenizer, preprocessor }),
            (None, None, None) => None,
            _ => return Err(JsError::new("loadModel: give config, tokenizer and preprocessor together, or none (a webclip model file)")),
        };
        let asked = weights.as_deref().map(WeightFormat::parse).transpose()?;
        let start = now();
        let mut model = ModelSource::open(&source, texts).await?;
        model.record = sink.as_ref().map(|sink| Record { sink, source: sink.source.clone() });
        let (kernels, compile_ms) = self.kernels_for(model.format(asked)?).await?;
        let inner = ClipModel::load_source(&self.gpu, &kernels, model).await?;
        let timings = Timings { load_ms: now() - start, compile_ms, ..Timings::default() };
        Ok(Model {
            inner,
            timings: Cell::new(timings),
            prompts: RefCell::default(),
            weights: kernels.format,
        })
    }
}

/// A weights file read through JavaScript (HTTP Range requests, `File.slice`).
struct JsSource {
    object: JsValue,
    read: js_sys::Function,
    name: String,
}

impl JsSource {
    fn new(object: JsValue) -> Result<JsSource, JsError> {
        let read = js_function(&object, "read").ok_or_else(|| {
            JsError::new("loadModel: the source has no read(offset, length) function")
        })?;
        let name = js_string(&object, "name").unwrap_or_else(|| "the weights file".into());
        Ok(JsSource { object, read, name })
    }

    /// `len` bytes at `offset`, as the JS reader returns them (outside wasm memory).
    async fn read_js(&self, offset: u64, len: usize) -> crate::Result<js_sys::Uint8Array> {
        let failed = |e: JsValue| crate::Error::file(&self.name, js_message(&e));
        let promise = self
            .read
            .call2(&self.object, &(offset as f64).into(), &(len as f64).into())
            .map_err(failed)?;
        let bytes = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&promise))
            .await
            .map_err(failed)?;
        let bytes = js_sys::Uint8Array::new(&bytes);
        if bytes.length() as usize != len {
            return Err(crate::Error::file(
                &self.name,
                format!(
                    "{len} bytes asked at {offset}, {} came (truncated download?)",
                    bytes.length()
                ),
            ));
        }
        Ok(bytes)
    }
}

impl TensorSource for JsSource {
    fn read(
        &self,
        offset: u64,
        len: usize,
    ) -> Pin<Box<dyn Future<Output = crate::Result<Vec<u8>>> + '_>> {
        Box::pin(async move { Ok(self.read_js(offset, len).await?.to_vec()) })
    }
    fn read_into<'b>(
        &'b self,
        offset: u64,
        out: &'b mut [u8],
    ) -> Pin<Box<dyn Future<Output = crate::Result<()>> + 'b>> {
        Box::pin(async move {
            self.read_js(offset, out.len()).await?.copy_to(out);
            Ok(())
        })
    }
    fn len(&self) -> Option<u64> {
        Reflect::get(&self.object, &"length".into()).ok().and_then(|v| v.as_f64()).map(|v| v as u64)
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Model {
    /// Every prompt's embedding, from the cache where it can; records how many were encoded.
    /// The prompts' embeddings, from the cache or encoded; `progress(encoded,
    /// toEncode)` is called after each text pass.
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
        let per_label = templates.len().max(1);
        // As ClipModel::zero_shot computes them, keeping the cosines.
        let cosines = crate::model::scores::cosines(image, prompts, per_label);
        let scale = (self.inner.logit_scale as f64).exp();
        let probs =
            crate::model::scores::softmax(&cosines.iter().map(|c| scale * c).collect::<Vec<_>>());
        let truncated: Array = self
            .inner
            .truncated_labels(labels, templates)?
            .into_iter()
            .map(JsValue::from)
            .collect();
        Ok(object(&[
            ("probs", js_sys::Float64Array::from(&probs[..]).into()),
            ("cosines", js_sys::Float64Array::from(&cosines[..]).into()),
            ("truncated", truncated.into()),
        ]))
    }
}

/// `object[key]` when it is a function.
fn js_function(object: &JsValue, key: &str) -> Option<js_sys::Function> {
    Reflect::get(object, &key.into()).ok()?.dyn_into().ok()
}

/// `object[key]` when it is a string.
fn js_string(object: &JsValue, key: &str) -> Option<String> {
    Reflect::get(object, &key.into()).ok()?.as_string()
}

/// A thrown JS value's message.
fn js_message(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Where a load writes the model file it records (the worker's cache).
struct JsSink {
    object: Object,
    write: js_sys::Function,
    source: String,
}

impl JsSink {
    fn new(object: Object) -> Result<JsSink, JsError> {
        let write = js_function(&object, "write").ok_or_else(|| {
            JsError::new("loadModel: record has no write(offset, bytes) function")
        })?;
        let source = js_string(&object, "source").unwrap_or_default();
        Ok(JsSink { object, write, source })
    }
}

impl ByteSink for JsSink {
    fn write<'b>(
        &'b self,
        offset: u64,
        bytes: &'b [u8],
    ) -> Pin<Box<dyn Future<Output = crate::Result<()>> + 'b>> {
        Box::pin(async move {
            let failed = |e: JsValue| {
                crate::Error::Input(format!("writing the model file: {}", js_message(&e)))
            };
            // A copy outside wasm memory: the sink may keep it past an await.
            let copy = js_sys::Uint8Array::from(bytes);
            let done =
                self.write.call2(&self.object, &(offset as f64).into(), &copy).map_err(failed)?;
            wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&done))
                .await
                .map_err(failed)?;
            Ok(())
        })
    }
}

impl Engine {
    /// The kernels for `format` and the milliseconds their compilation took.
    async fn kernels_for(&self, format: WeightFormat) -> Result<(Kernels, f64), JsError> {
        if let Some(found) = self.kernels.borrow().iter().find(|(k, _)| k.format == format) {
            return Ok(found.clone());
        }
        let start = now();
        let kernels = Kernels::new(&self.gpu, self.family, format).await?;
        let entry = (kernels, now() - start);
        self.kernels.borrow_mut().push(entry.clone());
        Ok(entry)
    }
}

/// A decoded picture, ready for any model.
#[wasm_bindgen]
pub struct Image {
    rgb: RgbImage,
    decode_ms: f64,
}

#[wasm_bindgen]
impl Image {
    /// PNG, JPEG, WebP, GIF or BMP file bytes, decoded exactly as transformers
    /// + Pillow do; `name` only appears in error messages.
    pub fn decode(bytes: &[u8], name: &str) -> Result<Image, JsError> {
        let start = now();
        let rgb = image::decode(bytes, name)?;
        Ok(Image { rgb, decode_ms: now() - start })
    }

    /// Straight (not premultiplied) RGBA8, as in `ImageData`.
    #[wasm_bindgen(js_name = fromRgba)]
    pub fn from_rgba(width: u32, height: u32, rgba: &[u8], name: &str) -> Result<Image, JsError> {
        let start = now();
        let rgb = image::from_rgba(width, height, rgba, name)?;
        Ok(Image { rgb, decode_ms: now() - start })
    }

    /// `[width, height]` of JPEG bytes after the checks `decode` makes (a
    /// decompression bomb throws here, before any decoder runs); undefined
    /// for other formats. The worker lets the browser decode JPEG when it is
    /// proven Pillow-exact, and asks this first.
    #[wasm_bindgen(js_name = jpegSize)]
    pub fn jpeg_size(bytes: &[u8], name: &str) -> Result<Option<Vec<u32>>, JsError> {
        Ok(image::jpeg_size(bytes, name)?.map(|(w, h)| vec![w, h]))
    }

    /// The decoded pixels, packed RGB8 (tests compare them with Pillow's).
    #[wasm_bindgen(getter)]
    pub fn rgb(&self) -> Vec<u8> {
        self.rgb.data.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.rgb.width
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.rgb.height
    }
}

/// Milliseconds: loading (parse, check, upload), kernel compilation, and the
/// image (decode, preprocess, forward pass) and text side of the last call.
#[derive(Clone, Copy, Default)]
struct Timings {
    load_ms: f64,
    compile_ms: f64,
    image_ms: f64,
    text_ms: f64,
    /// Prompts the last classify call had to encode (the rest came from the cache).
    encoded_prompts: usize,
}

/// A loaded CLIP, with the embeddings of the prompts it has encoded.
#[wasm_bindgen]
pub struct Model {
    inner: ClipModel,
    timings: Cell<Timings>,
    prompts: RefCell<PromptCache>,
    weights: WeightFormat,
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
        let rows = self.inner.embed_images(&pictures, false).await?;
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
        let rows = self.inner.embed_texts(&refs, false).await?;
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
        self.weights.name().into()
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

    /// Side of the square the vision tower takes, in pixels.
    #[wasm_bindgen(getter, js_name = imageSize)]
    pub fn image_size(&self) -> usize {
        self.inner.config.vision.image_size
    }

    /// One image's features (not normalised); the image timing counts its decoding too.
    async fn embed(&self, image: &Image) -> Result<Vec<f32>, JsError> {
        let start = now();
        let mut rows = self.inner.embed_images(std::slice::from_ref(&image.rgb), false).await?;
        let image_ms = image.decode_ms + now() - start;
        self.timings.set(Timings { image_ms, ..self.timings.get() });
        Ok(rows.swap_remove(0))
    }
}
