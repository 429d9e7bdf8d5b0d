//! Uniform buffers: how shapes reach the kernels.

use std::marker::PhantomData;

use super::Gpu;

/// A uniform buffer holding one `T` (a kernel's shape struct). Written with
/// `queue.write_buffer` before the submit that uses it, so one pipeline serves
/// every batch size without recompiling.
pub struct Uniform<T> {
    pub buffer: wgpu::Buffer,
    _value: PhantomData<T>,
}

impl<T: bytemuck::Pod> Uniform<T> {
    pub fn new(gpu: &Gpu, label: &str, value: &T) -> Self {
        use wgpu::util::DeviceExt;
        let buffer = gpu.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::bytes_of(value),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        Uniform { buffer, _value: PhantomData }
    }

    pub fn write(&self, gpu: &Gpu, value: &T) {
        gpu.queue.write_buffer(&self.buffer, 0, bytemuck::bytes_of(value));
    }
}
