//! Where models run: an engine chosen once ([`EngineChoice`]), and for WebGPU
//! the device, the kernel family chosen for it and the kernels compiled for
//! each weight format, which its models share. The faces (the CLI, the wasm
//! API) and the tests open one `Runtime` and load every model through it;
//! nothing else compiles kernels or picks an engine.

use std::sync::{Mutex, PoisonError};

use crate::clock::now_ms;
use crate::engine::cpu::kernels::bench::kernel_timings as cpu_kernel_timings;
use crate::engine::cpu::CpuEngine;
use crate::engine::webgpu::{GpuEngine, KernelFamily, KernelTiming};
use crate::engine::{Engine, WeightFormat};
use crate::error::{Error, Result};
use crate::gpu::Gpu;

use super::clip::ClipModel;
use super::files::{ModelFiles, ModelSource, FILE_NAMES};
use super::weights::BytesSource;

/// Which engine runs models: the same names everywhere (`--engine`,
/// `WEBCLIP_ENGINE`, `loadModel(.., { engine })`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineChoice {
    /// WebGPU on a hardware adapter, else the CPU (see [`Runtime::new`]).
    Auto,
    WebGpu,
    Cpu,
}

impl EngineChoice {
    pub const ALL: [EngineChoice; 3] =
        [EngineChoice::Auto, EngineChoice::WebGpu, EngineChoice::Cpu];

    pub fn name(self) -> &'static str {
        match self {
            EngineChoice::Auto => "auto",
            EngineChoice::WebGpu => "webgpu",
            EngineChoice::Cpu => "cpu",
        }
    }

    pub fn parse(name: &str) -> Result<EngineChoice> {
        Self::ALL.into_iter().find(|c| c.name() == name).ok_or_else(|| {
            Error::Input(format!("unknown engine {name:?} (expected auto, webgpu or cpu)"))
        })
    }

    /// `WEBCLIP_ENGINE`, natively (tests and the CLI's default), else `Auto`.
    pub fn from_env() -> Result<EngineChoice> {
        #[cfg(not(target_arch = "wasm32"))]
        if let Ok(name) = std::env::var("WEBCLIP_ENGINE") {
            return Self::parse(&name).map_err(|e| Error::Input(format!("WEBCLIP_ENGINE: {e}")));
        }
        Ok(EngineChoice::Auto)
    }
}

/// What the faces may say of the device (browsers often hide the name).
#[derive(Clone, Debug)]
pub struct Adapter {
    pub name: String,
    pub backend: String,
    /// A CPU-backed adapter (lavapipe, SwiftShader).
    pub software: bool,
    /// Bytes one storage binding may cover: bounds batch sizes and the largest model.
    pub max_binding_bytes: u64,
}

pub struct Runtime {
    target: Target,
    /// Where models run and why, in a reader's words.
    description: String,
}

enum Target {
    WebGpu(Box<GpuTarget>),
    Cpu,
}

struct GpuTarget {
    gpu: Gpu,
    family: KernelFamily,
    /// One engine per weight format asked so far, and how long its kernels took to compile.
    engines: Mutex<Vec<(GpuEngine, f64)>>,
}

impl Runtime {
    /// Opens the engine `choice` names. `Auto` takes WebGPU on a hardware
    /// adapter and the CPU where there is no WebGPU, no adapter, or only a
    /// software one (a CPU emulating a GPU is slower than the CPU itself);
    /// forcing a kernel `family` asks for WebGPU. `WebGpu` fails with a message
    /// when there is no adapter. `family` forces a kernel family, else the
    /// adapter's type picks one ([`KernelFamily::choose`]).
    pub async fn new(choice: EngineChoice, family: Option<KernelFamily>) -> Result<Runtime> {
        match choice {
            EngineChoice::Cpu => Ok(Runtime::cpu("asked for")),
            EngineChoice::WebGpu => Runtime::on(Gpu::new().await?, family),
            EngineChoice::Auto => match Gpu::new().await {
                Err(e) if family.is_none() => Ok(Runtime::cpu(&no_webgpu(&e))),
                Err(e) => Err(e),
                Ok(gpu) if family.is_none() && is_software(&gpu) => Ok(Runtime::cpu(&format!(
                    "the only WebGPU adapter is a software one ({})",
                    gpu.adapter.name
                ))),
                Ok(gpu) => Runtime::on(gpu, family),
            },
        }
    }

    /// A runtime on a device already open (tests share one).
    pub fn on(gpu: Gpu, family: Option<KernelFamily>) -> Result<Runtime> {
        let family = KernelFamily::choose(&gpu, family)?;
        let name = match gpu.adapter.name.as_str() {
            "" => "an unnamed adapter", // browsers often hide it
            name => name,
        };
        let description = format!("WebGPU on {name} ({} kernels)", family.name());
        let target = Target::WebGpu(Box::new(GpuTarget { gpu, family, engines: Mutex::default() }));
        Ok(Runtime { target, description })
    }

    /// A runtime on the CPU engine; `why` is said after its thread count.
    pub fn cpu(why: &str) -> Runtime {
        let threads = CpuEngine::new(WeightFormat::F32).threads();
        let plural = if threads == 1 { "" } else { "s" };
        Runtime {
            target: Target::Cpu,
            description: format!("CPU, {threads} thread{plural}: {why}"),
        }
    }

    /// A runtime on the same device with the kernels of `family` (to compare families).
    pub fn with_family(&self, family: KernelFamily) -> Result<Runtime> {
        Runtime::on(self.webgpu()?.gpu.clone(), Some(family))
    }

    /// Where models run and why: "WebGPU on llvmpipe (registers kernels)",
    /// "CPU, 1 thread: this browser has no WebGPU".
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The engine models run on.
    pub fn engine(&self) -> EngineChoice {
        match self.target {
            Target::WebGpu(_) => EngineChoice::WebGpu,
            Target::Cpu => EngineChoice::Cpu,
        }
    }

    fn webgpu(&self) -> Result<&GpuTarget> {
        match &self.target {
            Target::WebGpu(t) => Ok(t),
            Target::Cpu => Err(Error::Input(format!(
                "no WebGPU device: models run on the {}",
                self.description
            ))),
        }
    }

    /// The kernel family, on WebGPU.
    pub fn family(&self) -> Option<KernelFamily> {
        self.webgpu().ok().map(|t| t.family)
    }

    /// The WebGPU adapter, if models run on one.
    pub fn adapter(&self) -> Option<Adapter> {
        let t = self.webgpu().ok()?;
        let a = &t.gpu.adapter;
        Some(Adapter {
            name: a.name.clone(),
            backend: format!("{:?}", a.backend),
            software: is_software(&t.gpu),
            max_binding_bytes: t.gpu.max_binding_bytes(),
        })
    }

    /// Why the device was lost, or `None` while it works (always, on the CPU).
    /// Nothing loaded on a lost device works again: open a new runtime.
    pub fn lost(&self) -> Option<String> {
        self.webgpu().ok()?.gpu.lost()
    }

    /// `(buffers, bytes)` held on the WebGPU device now by everything loaded
    /// through this runtime (and dropped buffers no longer), by the crate's own
    /// count; `None` on the CPU.
    pub fn gpu_memory(&self) -> Option<(u64, u64)> {
        Some(self.webgpu().ok()?.gpu.held_buffers())
    }

    /// Destroys the device as a driver reset would (tests of recovery).
    pub fn destroy_device(&self) {
        if let Ok(t) = self.webgpu() {
            t.gpu.destroy();
        }
    }

    /// Compiles the kernels for `format` ahead of a load (a page does it while
    /// the weights download); returns [`Runtime::compile_ms`] (0 on the CPU).
    pub async fn prepare(&self, format: WeightFormat) -> Result<f64> {
        match &self.target {
            Target::WebGpu(t) => t.engine(format).await.map(|(_, ms)| ms),
            Target::Cpu => Ok(0.0),
        }
    }

    /// How long compiling the kernels for `format` took, when they were first
    /// asked for (0 if they have not been, and on the CPU).
    pub fn compile_ms(&self, format: WeightFormat) -> f64 {
        let Ok(t) = self.webgpu() else { return 0.0 };
        t.cached(format).map_or(0.0, |(_, ms)| ms)
    }

    /// Loads a model from `source` with its matrices in `weights` (default:
    /// a model file's own format, f32 for a checkpoint).
    pub async fn load(
        &self,
        source: ModelSource<'_>,
        weights: Option<WeightFormat>,
    ) -> Result<ClipModel> {
        let format = source.format(weights)?;
        match &self.target {
            Target::WebGpu(t) => ClipModel::load(t.engine(format).await?.0, source).await,
            Target::Cpu => ClipModel::load(CpuEngine::new(format), source).await,
        }
    }

    /// [`Runtime::load`] from files already in memory.
    pub async fn load_files(
        &self,
        files: &ModelFiles,
        weights: Option<WeightFormat>,
    ) -> Result<ClipModel> {
        let bytes = BytesSource { bytes: &files.weights, name: FILE_NAMES[1].into() };
        self.load(ModelSource::open(&bytes, Some(files.texts())).await?, weights).await
    }

    /// The kernel benchmark for weights in `format`: on WebGPU this runtime's family, on
    /// the CPU the engine's own kernels on its threads.
    pub async fn bench_kernels(
        &self,
        format: WeightFormat,
        samples: usize,
        only: &str,
    ) -> Result<Vec<KernelTiming>> {
        match &self.target {
            Target::WebGpu(t) => t.engine(format).await?.0.bench(samples, only).await,
            Target::Cpu => Ok(cpu_kernel_timings(format, samples, only)),
        }
    }
}

impl GpuTarget {
    fn cached(&self, format: WeightFormat) -> Option<(GpuEngine, f64)> {
        let engines = self.engines.lock().unwrap_or_else(PoisonError::into_inner);
        engines.iter().find(|(e, _)| e.format() == format).cloned()
    }

    /// The engine for weights in `format`, compiled on first use, and the
    /// milliseconds its compile took.
    async fn engine(&self, format: WeightFormat) -> Result<(GpuEngine, f64)> {
        if let Some(found) = self.cached(format) {
            return Ok(found);
        }
        let start = now_ms();
        let engine = GpuEngine::compile(&self.gpu, self.family, format).await?;
        let mut engines = self.engines.lock().unwrap_or_else(PoisonError::into_inner);
        // Two loads may have compiled it at once: keep the first.
        if let Some(first) = engines.iter().find(|(e, _)| e.format() == format) {
            return Ok(first.clone());
        }
        engines.push((engine, now_ms() - start));
        Ok(engines.last().cloned().expect("just pushed"))
    }
}

/// A CPU-backed adapter (lavapipe natively; SwiftShader, a fallback adapter, in a browser).
fn is_software(gpu: &Gpu) -> bool {
    gpu.adapter.device_type == wgpu::DeviceType::Cpu
}

/// Why `auto` runs on the CPU when opening WebGPU failed with `e`, in the words
/// the page shows its reader: wgpu's parenthesised list of the backends it
/// tried ("noop not requested, vulkan not requested, ...") is left out.
fn no_webgpu(e: &Error) -> String {
    match e {
        Error::Gpu(why) => why.split(" (").next().unwrap_or(why).to_string(),
        other => other.to_string(),
    }
}
