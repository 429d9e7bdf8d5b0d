//! Where models run: one device, the kernel family chosen for it, and the
//! engines (the kernels compiled for one weight format) its models share.
//! The faces (the CLI, the wasm API) and the tests open one `Runtime` and load
//! every model through it; nothing else compiles kernels.

use std::sync::{Mutex, PoisonError};

use crate::clock::now_ms;
use crate::engine::webgpu::{GpuEngine, KernelFamily, KernelTiming};
use crate::engine::WeightFormat;
use crate::error::Result;
use crate::gpu::Gpu;

use super::clip::ClipModel;
use super::files::{ModelFiles, ModelSource, FILE_NAMES};
use super::weights::BytesSource;

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
    gpu: Gpu,
    family: KernelFamily,
    /// One engine per weight format asked so far, and how long its kernels took to compile.
    engines: Mutex<Vec<(GpuEngine, f64)>>,
}

impl Runtime {
    /// Opens the adapter's device (with all of its limits); `family` forces a
    /// kernel family, else the adapter's type picks one
    /// ([`KernelFamily::choose`]). Fails with a message when there is no adapter.
    pub async fn new(family: Option<KernelFamily>) -> Result<Runtime> {
        Runtime::on(Gpu::new().await?, family)
    }

    /// A runtime on a device already open (tests share one).
    pub fn on(gpu: Gpu, family: Option<KernelFamily>) -> Result<Runtime> {
        let family = KernelFamily::choose(&gpu, family)?;
        Ok(Runtime { gpu, family, engines: Mutex::default() })
    }

    /// A runtime on the same device with the kernels of `family` (to compare families).
    pub fn with_family(&self, family: KernelFamily) -> Result<Runtime> {
        Runtime::on(self.gpu.clone(), Some(family))
    }

    pub fn family(&self) -> KernelFamily {
        self.family
    }

    pub fn adapter(&self) -> Adapter {
        let a = &self.gpu.adapter;
        Adapter {
            name: a.name.clone(),
            backend: format!("{:?}", a.backend),
            software: a.device_type == wgpu::DeviceType::Cpu,
            max_binding_bytes: self.gpu.max_binding_bytes(),
        }
    }

    /// Why the device was lost, or `None` while it works. Nothing loaded on a
    /// lost device works again: open a new runtime.
    pub fn lost(&self) -> Option<String> {
        self.gpu.lost()
    }

    /// `(buffers, bytes)` held on the device now by everything loaded through
    /// this runtime (and dropped buffers no longer), by the crate's own count.
    pub fn gpu_memory(&self) -> (u64, u64) {
        self.gpu.held_buffers()
    }

    /// Destroys the device as a driver reset would (tests of recovery).
    pub fn destroy_device(&self) {
        self.gpu.destroy();
    }

    /// The engine for weights in `format`, compiled on first use, and the
    /// milliseconds its compile took.
    async fn engine(&self, format: WeightFormat) -> Result<(GpuEngine, f64)> {
        let cached = |engines: &Vec<(GpuEngine, f64)>| {
            engines.iter().find(|(e, _)| e.kernels().format == format).cloned()
        };
        if let Some(found) = cached(&self.engines.lock().unwrap_or_else(PoisonError::into_inner)) {
            return Ok(found);
        }
        let start = now_ms();
        let engine = GpuEngine::compile(&self.gpu, self.family, format).await?;
        let mut engines = self.engines.lock().unwrap_or_else(PoisonError::into_inner);
        // Two loads may have compiled it at once: keep the first.
        Ok(cached(&engines).unwrap_or_else(|| {
            engines.push((engine, now_ms() - start));
            engines.last().cloned().expect("just pushed")
        }))
    }

    /// Compiles the kernels for `format` ahead of a load (a page does it while
    /// the weights download); returns [`Runtime::compile_ms`].
    pub async fn prepare(&self, format: WeightFormat) -> Result<f64> {
        self.engine(format).await.map(|(_, ms)| ms)
    }

    /// How long compiling the kernels for `format` took, when they were first
    /// asked for (0 if they have not been).
    pub fn compile_ms(&self, format: WeightFormat) -> f64 {
        let engines = self.engines.lock().unwrap_or_else(PoisonError::into_inner);
        engines.iter().find(|(e, _)| e.kernels().format == format).map_or(0.0, |(_, ms)| *ms)
    }

    /// Loads a model from `source` with its matrices in `weights` (default:
    /// a model file's own format, f32 for a checkpoint).
    pub async fn load(
        &self,
        source: ModelSource<'_>,
        weights: Option<WeightFormat>,
    ) -> Result<ClipModel> {
        let (engine, _) = self.engine(source.format(weights)?).await?;
        ClipModel::load(engine, source).await
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

    /// The kernel benchmark on this runtime's family for weights in `format`.
    pub async fn bench_kernels(
        &self,
        format: WeightFormat,
        samples: usize,
        only: &str,
    ) -> Result<Vec<KernelTiming>> {
        self.engine(format).await?.0.bench(samples, only).await
    }
}
