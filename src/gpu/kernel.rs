//! Compiled kernels and their bound dispatches.

use crate::error::Result;

use super::{Gpu, GpuBuffer};

/// Threads per workgroup of the 1-D elementwise kernels (kept in sync with
/// `@workgroup_size` in those shaders).
pub const LINEAR_WORKGROUP: u32 = 256;

/// One compute pipeline built from one `shaders/<op>.wgsl`. Bind group layout is
/// derived from the shader, so the WGSL file is the single source of truth
/// for bindings.
#[derive(Clone)]
pub struct Kernel {
    pipeline: wgpu::ComputePipeline,
    label: &'static str,
    /// Output items one workgroup covers along x, y, z (see [`Step::dispatch_over`]).
    covers: [u32; 3],
}

impl Kernel {
    /// Compiles `source`; `constants` fill the shader's `override` values
    /// (tile and workgroup sizes only: shapes travel in uniforms).
    /// `covers` is how many output items (rows, columns, queries: whatever the
    /// kernel's extent counts) one workgroup handles along x, y and z.
    pub async fn new(
        gpu: &Gpu,
        label: &'static str,
        source: &str,
        constants: &[(&str, f64)],
        covers: [u32; 3],
    ) -> Result<Kernel> {
        let pipeline = gpu
            .checked(&format!("compiling kernel {label}"), || {
                let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(label),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
                gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(label),
                    layout: None,
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants,
                        ..Default::default()
                    },
                    cache: None,
                })
            })
            .await?;
        Ok(Kernel { pipeline, label, covers })
    }

    /// Binds whole `buffers` to bindings 0, 1, 2, ... of group 0, in order (the
    /// order of the shader's header comment).
    pub fn bind(&self, gpu: &Gpu, buffers: &[&GpuBuffer]) -> Step {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.label),
            layout: &self.pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        Step {
            pipeline: self.pipeline.clone(),
            bind_group,
            covers: self.covers,
            _buffers: buffers.iter().map(|&b| b.clone()).collect(),
        }
    }
}

/// A kernel with its buffers bound: built once at model load, dispatched on
/// every forward pass.
pub struct Step {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    covers: [u32; 3],
    /// The bound buffers, kept alive (not destroyed) while the bind group is.
    _buffers: Vec<GpuBuffer>,
}

impl Step {
    fn dispatch(&self, pass: &mut wgpu::ComputePass<'_>, workgroups: [u32; 3]) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
    }

    /// Dispatches enough workgroups to cover `extent` output items (the kernel
    /// says how many one workgroup covers), folding x into y past the
    /// 65535-per-dimension limit when y is unused; such shaders unfold with
    /// `num_workgroups.x`.
    pub fn dispatch_over(&self, pass: &mut wgpu::ComputePass<'_>, extent: [u32; 3]) {
        let mut groups = [0; 3];
        for i in 0..3 {
            groups[i] = extent[i].div_ceil(self.covers[i]).max(1);
        }
        if groups[0] > 65535 && groups[1] == 1 {
            let y = groups[0].div_ceil(65535);
            groups = [groups[0].div_ceil(y), y, groups[2]];
        }
        self.dispatch(pass, groups);
    }
}
