//! The kernels. One module per `shaders/<op>.wgsl`: its shape uniform, how it
//! is bound and dispatched, a CPU reference in f64, and tests on odd shapes.

pub mod attention;
pub mod embeddings;
pub mod layernorm;
pub mod matmul;
pub mod pooling;

pub use matmul::Activation;

use crate::error::Result;
use crate::gpu::{Gpu, Kernel};

/// Shader sources that reduce across a workgroup get the shared helpers prepended.
macro_rules! shader {
    ($name:literal) => {
        include_str!(concat!("../../shaders/", $name, ".wgsl"))
    };
    ($name:literal, reduce) => {
        concat!(
            include_str!("../../shaders/common/workgroup_reduce.wgsl"),
            include_str!(concat!("../../shaders/", $name, ".wgsl"))
        )
    };
}

/// Every compiled pipeline a CLIP forward pass uses, built once per device.
#[derive(Clone)]
pub struct Kernels {
    pub matmul: Kernel,
    pub layernorm: Kernel,
    pub attention: Kernel,
    pub im2col: Kernel,
    pub vision_embeddings: Kernel,
    pub text_embeddings: Kernel,
    pub gather_rows: Kernel,
    pub l2_normalize: Kernel,
}

impl Kernels {
    pub async fn new(gpu: &Gpu) -> Result<Kernels> {
        Ok(Kernels {
            matmul: Kernel::new(gpu, "matmul", shader!("matmul"), &[]).await?,
            layernorm: Kernel::new(gpu, "layernorm", shader!("layernorm", reduce), &[]).await?,
            attention: Kernel::new(gpu, "attention", shader!("attention", reduce), &[]).await?,
            im2col: Kernel::new(gpu, "im2col", shader!("im2col"), &[]).await?,
            vision_embeddings: Kernel::new(gpu, "vision_embeddings", shader!("vision_embeddings"), &[]).await?,
            text_embeddings: Kernel::new(gpu, "text_embeddings", shader!("text_embeddings"), &[]).await?,
            gather_rows: Kernel::new(gpu, "gather_rows", shader!("gather_rows"), &[]).await?,
            l2_normalize: Kernel::new(gpu, "l2_normalize", shader!("l2_normalize", reduce), &[]).await?,
        })
    }
}


#[cfg(test)]
pub(crate) mod test_support {
    use crate::gpu::{Gpu, Step};

    /// One dispatch, one submit, read `len` floats of `out` back.
    pub async fn run_once(gpu: &Gpu, step: &Step, workgroups: [u32; 3], out: &wgpu::Buffer, len: usize) -> Vec<f32> {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            step.dispatch(&mut pass, workgroups);
        }
        gpu.queue.submit([encoder.finish()]);
        gpu.read_back(out, len).await.expect("readback")
    }

    /// Kernels compiled once per test binary (the test device is shared too).
    pub async fn kernels(gpu: &Gpu) -> super::Kernels {
        crate::gpu::testing::once!(super::Kernels, super::Kernels::new(gpu).await.expect("kernels compile"))
    }
}
