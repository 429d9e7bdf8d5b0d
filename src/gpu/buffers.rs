//! Buffers: every one the crate makes frees its GPU memory when dropped, and
//! uniform buffers, how shapes reach the kernels.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Gpu;

/// A `wgpu::Buffer` destroyed once its last handle is dropped. In the browser
/// wgpu's own drop does nothing: the memory stays until JavaScript's garbage
/// collector finds the `GPUBuffer`, which knows nothing of GPU memory
/// pressure, so a disposed model could hold hundreds of MB. Handles are
/// shared: every [`super::Step`] keeps one of each buffer it binds, so a
/// bind group never outlives its buffers. Destroying with work in flight is
/// safe (WebGPU and wgpu free the memory once submitted work is done).
#[derive(Clone, Debug)]
pub struct GpuBuffer(std::sync::Arc<DestroyOnDrop>);

#[derive(Debug)]
pub struct DestroyOnDrop {
    buffer: wgpu::Buffer,
    live: std::sync::Arc<LiveBuffers>,
}

/// The buffers of one device that are not yet destroyed, counted by the
/// crate itself (so the browser, whose WebGPU has no counters, can say what a
/// page holds): every buffer it makes, storage, uniform and readback alike.
#[derive(Debug, Default)]
pub struct LiveBuffers {
    buffers: AtomicU64,
    bytes: AtomicU64,
}

impl LiveBuffers {
    /// `(buffers, bytes)` alive now.
    pub fn now(&self) -> (u64, u64) {
        (self.buffers.load(Ordering::Relaxed), self.bytes.load(Ordering::Relaxed))
    }
}

impl GpuBuffer {
    /// Takes ownership of `buffer`, counted in `live` until destroyed.
    pub fn new(live: &std::sync::Arc<LiveBuffers>, buffer: wgpu::Buffer) -> GpuBuffer {
        live.buffers.fetch_add(1, Ordering::Relaxed);
        live.bytes.fetch_add(buffer.size(), Ordering::Relaxed);
        GpuBuffer(std::sync::Arc::new(DestroyOnDrop { buffer, live: live.clone() }))
    }
}

impl std::ops::Deref for GpuBuffer {
    type Target = wgpu::Buffer;
    fn deref(&self) -> &wgpu::Buffer {
        &self.0.buffer
    }
}

impl Drop for DestroyOnDrop {
    fn drop(&mut self) {
        self.buffer.destroy();
        self.live.buffers.fetch_sub(1, Ordering::Relaxed);
        self.live.bytes.fetch_sub(self.buffer.size(), Ordering::Relaxed);
    }
}

/// A uniform buffer holding one `T` (a kernel's shape struct). Written with
/// `queue.write_buffer` before the submit that uses it, so one pipeline serves
/// every batch size without recompiling.
pub struct Uniform<T> {
    pub buffer: GpuBuffer,
    _value: PhantomData<T>,
}

impl<T: bytemuck::Pod> Uniform<T> {
    pub fn new(gpu: &Gpu, label: &str, value: &T) -> Self {
        use wgpu::util::DeviceExt;
        let buffer = GpuBuffer::new(
            &gpu.live,
            gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::bytes_of(value),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            }),
        );
        Uniform { buffer, _value: PhantomData }
    }

    /// The uniform `buffer` already is (one shared by several bind groups).
    pub fn of(buffer: GpuBuffer) -> Self {
        Uniform { buffer, _value: PhantomData }
    }

    pub fn write(&self, gpu: &Gpu, value: &T) {
        gpu.queue.write_buffer(&self.buffer, 0, bytemuck::bytes_of(value));
    }
}
