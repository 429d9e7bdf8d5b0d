//! `Engine`: the wasm face of a [`Runtime`], one per page or worker.

use js_sys::Object;
use wasm_bindgen::prelude::*;

use super::js_io::{JsSink, JsSource};
use super::model::{Model, Timings};
use super::{js_string, object};
use crate::clock::now_ms as now;
use crate::model::WeightFormat;
use crate::model::{EngineChoice, KernelFamily, ModelSource, ModelTexts, Record, Runtime};

/// Where models run: the CPU engine, or a WebGPU device and the kernels of one
/// family, compiled once per weight format and shared by every model loaded
/// through it.
#[wasm_bindgen]
pub struct Engine {
    runtime: Runtime,
}

#[wasm_bindgen]
impl Engine {
    /// Opens the engine `engine` names ("auto", the default: WebGPU on a
    /// hardware adapter, else the CPU; "webgpu"; "cpu"). On WebGPU, opens the
    /// adapter's device (with all of its limits) and compiles the kernels of
    /// `family` ("tiled" or "registers"; by default the adapter's: registers on
    /// a CPU-backed one) for f32 weights. "webgpu" rejects with a message when
    /// the browser has no WebGPU adapter. `reason`, with "cpu", is why the CPU
    /// was chosen (auto's fallback after device losses), said in `description`
    /// instead of "asked for".
    pub async fn create(
        family: Option<String>,
        engine: Option<String>,
        reason: Option<String>,
    ) -> Result<Engine, JsError> {
        console_error_panic_hook::set_once();
        let forced = family.as_deref().map(KernelFamily::parse).transpose()?;
        let choice = engine.as_deref().map(EngineChoice::parse).transpose()?;
        let runtime = match (choice, reason) {
            (Some(EngineChoice::Cpu), Some(reason)) => Runtime::cpu(&reason),
            (choice, _) => Runtime::new(choice.unwrap_or(EngineChoice::Auto), forced).await?,
        };
        runtime.prepare(WeightFormat::F32).await?;
        Ok(Engine { runtime })
    }

    /// The engine models run on: "webgpu" or "cpu".
    #[wasm_bindgen(getter)]
    pub fn engine(&self) -> String {
        self.runtime.engine().name().into()
    }

    /// Where models run and why, in a reader's words: "WebGPU on ... (registers
    /// kernels)", "CPU, 1 thread: this browser has no WebGPU".
    #[wasm_bindgen(getter)]
    pub fn description(&self) -> String {
        self.runtime.description().into()
    }

    /// The kernel family in use on WebGPU ("tiled" or "registers"); undefined on the CPU.
    #[wasm_bindgen(getter)]
    pub fn family(&self) -> Option<String> {
        self.runtime.family().map(|f| f.name().into())
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
        let timings = self.runtime.bench_kernels(format, samples.max(1), &only).await?;
        Ok(serde_json::to_string(&timings)?)
    }

    /// What wgpu knows of the adapter in a browser: `{ name, software,
    /// maxBindingBytes }` (`name` is often empty: browsers hide it).
    /// `maxBindingBytes` bounds the batch sizes and the largest model.
    /// Undefined on the CPU engine.
    #[wasm_bindgen(getter)]
    pub fn adapter(&self) -> JsValue {
        let Some(a) = self.runtime.adapter() else { return JsValue::UNDEFINED };
        object(&[
            ("name", a.name.as_str().into()),
            ("software", a.software.into()),
            ("maxBindingBytes", (a.max_binding_bytes as f64).into()),
        ])
    }

    /// `{ buffers, bytes }`: the GPU buffers this engine's models hold now
    /// (weights, activations, shape uniforms, readbacks in flight), by the
    /// engine's own count; a disposed model's are gone at once. Undefined on
    /// the CPU engine.
    #[wasm_bindgen(getter, js_name = gpuMemory)]
    pub fn gpu_memory(&self) -> JsValue {
        let Some((buffers, bytes)) = self.runtime.gpu_memory() else { return JsValue::UNDEFINED };
        object(&[("buffers", (buffers as f64).into()), ("bytes", (bytes as f64).into())])
    }

    /// Why the device was lost (`"Destroyed: ..."`), or undefined while it works.
    #[wasm_bindgen(getter)]
    pub fn lost(&self) -> Option<String> {
        self.runtime.lost()
    }

    /// Destroys the device as a driver reset would: the call running fails,
    /// and so does every later one on this engine (the worker then makes a new
    /// one). For tests of recovery from device loss.
    #[wasm_bindgen(js_name = destroyDevice)]
    pub fn destroy_device(&self) {
        self.runtime.destroy_device();
    }

    /// Time spent compiling the f32 kernels, in milliseconds.
    #[wasm_bindgen(getter, js_name = compileMs)]
    pub fn compile_ms(&self) -> f64 {
        self.runtime.compile_ms(WeightFormat::F32)
    }

    /// Loads a model, streaming its weights file: `source` is
    /// `{ read(offset, length): Promise<Uint8Array>, length?: number, name: string }`
    /// (`length`, when the reader knows it, lets a truncated file be reported
    /// before anything is read). `options` (all optional):
    /// - `config`, `tokenizer` (bytes), `preprocessor`: a directory's other
    ///   files; all absent for a webclip model file, whose header holds them;
    /// - `weights` ("f32", "f16", "q8", "q4"): packs a checkpoint's matrices
    ///   while loading; default: a model file's own format, f32 for a checkpoint;
    /// - `record`, `{ write(offset, bytes), source }`: receives the webclip
    ///   model file of what was loaded, as it loads (any order, header last;
    ///   `bytes` is a view into wasm memory, valid during the call): the worker
    ///   caches a Hub download so.
    ///
    /// The header is read and every tensor checked before the first upload;
    /// then tensors are read one at a time (a block of the encoder at most is
    /// in wasm memory).
    #[wasm_bindgen(js_name = loadModel)]
    pub async fn load_model(&self, source: JsValue, options: JsValue) -> Result<Model, JsError> {
        let options = LoadOptions::read(&options)?;
        let source = JsSource::new(source)?;
        let sink = options.record.map(JsSink::new).transpose()?;
        let start = now();
        let mut model = ModelSource::open(&source, options.texts).await?;
        model.record = sink.as_ref().map(|sink| Record { sink, source: sink.source.clone() });
        let format = model.format(options.weights)?;
        let compile_ms = self.runtime.prepare(format).await?;
        let inner = self.runtime.load(model, Some(format)).await?;
        let timings = Timings { load_ms: now() - start, compile_ms, ..Timings::default() };
        Ok(Model::new(inner, timings))
    }
}

/// `loadModel`'s options object, checked.
struct LoadOptions {
    texts: Option<ModelTexts>,
    weights: Option<WeightFormat>,
    record: Option<Object>,
}

impl LoadOptions {
    fn read(options: &JsValue) -> Result<LoadOptions, JsError> {
        if options.is_undefined() || options.is_null() {
            return Ok(LoadOptions { texts: None, weights: None, record: None });
        }
        let field = |key: &str| js_sys::Reflect::get(options, &key.into()).ok();
        let present = |key: &str| field(key).filter(|v| !v.is_undefined() && !v.is_null());
        let string = |key: &str| -> Result<Option<String>, JsError> {
            match present(key) {
                None => Ok(None),
                Some(_) => js_string(options, key).map(Some).ok_or_else(|| {
                    JsError::new(&format!("loadModel: options.{key} must be a string"))
                }),
            }
        };
        let tokenizer = present("tokenizer")
            .map(|v| {
                v.dyn_into::<js_sys::Uint8Array>()
                    .map(|a| a.to_vec())
                    .map_err(|_| JsError::new("loadModel: options.tokenizer must be a Uint8Array"))
            })
            .transpose()?;
        let texts = match (string("config")?, tokenizer, string("preprocessor")?) {
            (Some(config), Some(tokenizer), Some(preprocessor)) => {
                Some(ModelTexts { config, tokenizer, preprocessor })
            }
            (None, None, None) => None,
            _ => return Err(JsError::new("loadModel: give config, tokenizer and preprocessor together, or none (a webclip model file)")),
        };
        let weights = string("weights")?.as_deref().map(WeightFormat::parse).transpose()?;
        let record = present("record")
            .map(|v| {
                v.dyn_into::<Object>()
                    .map_err(|_| JsError::new("loadModel: options.record must be an object"))
            })
            .transpose()?;
        Ok(LoadOptions { texts, weights, record })
    }
}
