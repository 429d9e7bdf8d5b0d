//! The GPU runtime: one device per process (or page), its limits, buffers,
//! compiled kernels and the single async readback path.
//!
//! Nothing here blocks: on the web every wait is an awaited promise; natively
//! `read_back` drives the device with `poll` before awaiting the same future.

mod buffers;
mod kernel;
pub mod random;
#[cfg(target_arch = "wasm32")]
mod subgroups;

pub use buffers::{GpuBuffer, LiveBuffers, Uniform};
pub use kernel::{Kernel, Step, LINEAR_WORKGROUP};

use crate::error::{Error, Result};

/// A WebGPU device with the adapter's own limits.
#[derive(Clone)]
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub limits: wgpu::Limits,
    pub adapter: wgpu::AdapterInfo,
    /// Bytes of every storage buffer made by `upload` and `scratch` (never
    /// decreases: it measures what loading a model takes).
    allocated: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Why the device was lost, once it is (set by wgpu's callback).
    lost: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    /// Buffers made on this device and not yet destroyed.
    live: std::sync::Arc<LiveBuffers>,
    /// Held by a forward pass from its first input write to its submit
    /// ([`Gpu::one_pass_at_a_time`]).
    passes: std::sync::Arc<std::sync::Mutex<()>>,
    /// The device was opened with WebGPU's `subgroups` (browser only, see
    /// [`subgroups`]): kernels may use `enable subgroups;`.
    pub subgroups: bool,
}

impl Gpu {
    /// Asks for the high-performance adapter and a device with all of its limits:
    /// large models need large storage bindings, and the defaults (128 MiB) are
    /// only a floor.
    pub async fn new() -> Result<Gpu> {
        #[cfg(target_arch = "wasm32")]
        if !webgpu_exposed() {
            return Err(Error::Gpu("this browser has no WebGPU".into()));
        }
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = if cfg!(target_arch = "wasm32") {
            wgpu::Backends::BROWSER_WEBGPU
        } else {
            wgpu::Backends::PRIMARY
        };
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Gpu(format!("no WebGPU adapter available ({e})")))?;
        let limits = adapter.limits();
        #[cfg(target_arch = "wasm32")]
        subgroups::ask_with_next_device();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("webclip"),
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Gpu(format!("could not open the device: {e}")))?;
        let lost = std::sync::Arc::new(std::sync::Mutex::new(None));
        let flag = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            let why = if message.is_empty() {
                format!("{reason:?}")
            } else {
                format!("{reason:?}: {message}")
            };
            *flag.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
        });
        #[cfg(target_arch = "wasm32")]
        let subgroups = subgroups::enabled(&device);
        #[cfg(not(target_arch = "wasm32"))]
        let subgroups = false;
        Ok(Gpu {
            device,
            queue,
            limits,
            adapter: adapter.get_info(),
            allocated: Default::default(),
            lost,
            live: Default::default(),
            passes: Default::default(),
            subgroups,
        })
    }

    /// Why the device was lost (a driver reset, the GPU process restarted, the
    /// tab's GPU memory reclaimed, [`Gpu::destroy`]), or `None` while it works.
    /// A lost device never comes back: everything on it must be made again
    /// on a new [`Gpu`].
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// `Ok` while the device works; else the error every call on it returns.
    pub fn alive(&self) -> Result<()> {
        match self.lost() {
            None => Ok(()),
            Some(why) => Err(Error::Gpu(format!(
                "the GPU device was lost ({why}); the model must be loaded again"
            ))),
        }
    }

    /// Destroys the device, as a driver reset would: every later call fails
    /// with [`Gpu::alive`]'s error. For tests of recovery from device loss.
    pub fn destroy(&self) {
        self.device.destroy();
        // Natively wgpu reports the loss only when the device is dropped.
        self.lost
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get_or_insert_with(|| "Destroyed".into());
    }

    /// Live buffers on this device and their bytes, as wgpu's own counters
    /// tell (natively; the browser's are counted by the worker).
    pub fn live_buffers(&self) -> Option<(u64, u64)> {
        let hal = self.device.get_internal_counters().hal;
        (!cfg!(target_arch = "wasm32"))
            .then(|| (hal.buffers.read() as u64, hal.buffer_memory.read() as u64))
    }

    /// Taken by a pass from its first input write to its submit: queued writes
    /// land at the next submit, so two passes on this device (two models, two
    /// threads) must not interleave there. On one thread (the web) that span
    /// has no `.await` and the lock is never contended.
    pub fn one_pass_at_a_time(&self) -> std::sync::MutexGuard<'_, ()> {
        self.passes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `(buffers, bytes)` this crate holds on the device now, by its own count
    /// ([`LiveBuffers`]): what a page's `memoryUsage()` reports.
    pub fn held_buffers(&self) -> (u64, u64) {
        self.live.now()
    }

    /// Largest number of bytes one storage binding may cover on this device.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// Bytes of storage buffers created so far on this device.
    pub fn allocated_bytes(&self) -> u64 {
        self.allocated.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn count(&self, bytes: u64) {
        self.allocated.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// A storage buffer holding `data`.
    pub fn upload<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> GpuBuffer {
        use wgpu::util::DeviceExt;
        // Whole vec4s (kernels may read any f32 buffer as array<vec4<f32>>), and
        // never empty (zero-length bindings are invalid).
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let padded;
        let contents = if !bytes.is_empty() && bytes.len().is_multiple_of(16) {
            bytes
        } else {
            padded = [bytes, &[0u8; 16][..16 - bytes.len() % 16]].concat();
            &padded[..]
        };
        self.count(contents.len() as u64);
        GpuBuffer::new(
            &self.live,
            self.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
            }),
        )
    }

    /// A storage buffer holding `parts` one after another (each a whole number
    /// of 4-byte words), written in place rather than joined first.
    pub fn upload_parts(&self, label: &str, parts: &[&[u8]]) -> GpuBuffer {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let buffer = self.storage(label, (len.max(1).div_ceil(16) * 16) as u64);
        let mut offset = 0;
        for part in parts.iter().filter(|p| !p.is_empty()) {
            self.queue.write_buffer(&buffer, offset, part);
            offset += part.len() as u64;
        }
        buffer
    }

    /// An uninitialised storage buffer of `len` 32-bit elements, rounded up to
    /// whole vec4s.
    pub fn scratch(&self, label: &str, len: usize) -> GpuBuffer {
        self.storage(label, (len.max(1).div_ceil(4) * 16) as u64)
    }

    /// An uninitialised storage buffer of `size` bytes (a multiple of 16).
    fn storage(&self, label: &str, size: u64) -> GpuBuffer {
        self.count(size);
        GpuBuffer::new(
            &self.live,
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_DST
                    | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
        )
    }

    /// Copies the first `len` floats of `buffer` back to the CPU.
    pub async fn read_back(&self, buffer: &GpuBuffer, len: usize) -> Result<Vec<f32>> {
        self.submit_and_read(self.device.create_command_encoder(&Default::default()), buffer, len)
            .await
    }

    /// `submit_with_readback`, then `Readback::read`.
    pub async fn submit_and_read(
        &self,
        encoder: wgpu::CommandEncoder,
        buffer: &GpuBuffer,
        len: usize,
    ) -> Result<Vec<f32>> {
        self.submit_with_readback(encoder, buffer, len).read(self).await
    }

    /// Submits `encoder` with a copy of `buffer`'s first `len` floats appended into
    /// a fresh staging buffer. Synchronous on purpose: a caller that writes its
    /// inputs, records and submits without an `.await` in between cannot have
    /// another forward pass (say, a second widget's) slip in and overwrite them.
    pub fn submit_with_readback(
        &self,
        mut encoder: wgpu::CommandEncoder,
        buffer: &GpuBuffer,
        len: usize,
    ) -> Readback {
        let size = (len * 4) as u64;
        let staging = GpuBuffer::new(
            &self.live,
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: size.max(4),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
        );
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        Readback { staging, size }
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns a
    /// captured error into `Error::Gpu` (instead of wgpu's default: a panic
    /// natively, a console warning on the web).
    pub async fn checked<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        self.alive()?;
        let out_of_memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let invalid = validation.pop().await;
        let exhausted = out_of_memory.pop().await;
        match exhausted.or(invalid) {
            None => Ok(value),
            Some(e) => {
                Err(self.alive().err().unwrap_or_else(|| Error::Gpu(format!("{what}: {e}"))))
            }
        }
    }
}

/// Results on their way back from the GPU (see [`Gpu::submit_with_readback`]).
pub struct Readback {
    staging: GpuBuffer,
    size: u64,
}

impl Readback {
    /// The one readback of the crate: `map_async` and an awaited channel. On the
    /// web the promise resolves from the event loop; natively the device is
    /// polled so the callback fires.
    pub async fn read(self, gpu: &Gpu) -> Result<Vec<f32>> {
        // A lost device's error replaces whatever failure it caused.
        let read = self.read_mapped(gpu).await;
        gpu.alive()?;
        read
    }

    async fn read_mapped(self, gpu: &Gpu) -> Result<Vec<f32>> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        gpu.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the device failed: {e}")))?;
        #[cfg(target_arch = "wasm32")]
        let _ = gpu;
        rx.await
            .map_err(|_| Error::Gpu("the device was lost during readback".into()))?
            .map_err(|e| Error::Gpu(format!("readback failed: {e}")))?;
        let view = self
            .staging
            .slice(..self.size)
            .get_mapped_range()
            .map_err(|e| Error::Gpu(format!("readback failed: {e}")))?;
        let out = bytemuck::cast_slice::<u8, f32>(&view).to_vec();
        drop(view);
        self.staging.unmap();
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod testing;

/// Whether this browser context exposes WebGPU at all (`navigator.gpu`): wgpu's
/// browser backend is not to be asked for an adapter where it does not.
#[cfg(target_arch = "wasm32")]
fn webgpu_exposed() -> bool {
    let navigator = js_sys::Reflect::get(&js_sys::global(), &"navigator".into());
    navigator
        .and_then(|n| js_sys::Reflect::get(&n, &"gpu".into()))
        .is_ok_and(|gpu| !gpu.is_undefined() && !gpu.is_null())
}
