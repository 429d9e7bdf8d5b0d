//! Buffers: every one the crate makes frees its GPU memory when dropped, and
//! uniform buffers, how shapes reach the kernels.

use std::marker::PhantomData;

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
pub struct DestroyOnDrop(wgpu::Buffer);

impl GpuBuffer {
    pub fn new(buffer: wgpu::Buffer) -> GpuBuffer {
        GpuBuffer(std::sync::Arc::new(DestroyOnDrop(buffer)))
    }
}

impl std::ops::Deref for GpuBuffer {
    type Target = wgpu::Buffer;
    fn deref(&self) -> &wgpu::Buffer {
        &self.0 .0
    }
}

impl Drop for DestroyOnDrop {
    fn drop(&mut self) {
        self.0.destroy();
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
        let buffer =
            GpuBuffer::new(gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::bytes_of(value),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            }));
        Uniform { buffer, _value: PhantomData }
    }

    pub fn write(&self, gpu: &Gpu, value: &T) {
        gpu.queue.write_buffer(&self.buffer, 0, bytemuck::bytes_of(value));
    }
}
