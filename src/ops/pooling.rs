//! `shaders/gather_rows.wgsl`: picks the pooled token of each sequence.

use crate::gpu::{Gpu, Kernel, Step, Uniform};

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RowsParams {
    pub rows: u32,
    pub width: u32,
    pub _pad: [u32; 2],
}

impl RowsParams {
    pub fn new(rows: usize, width: usize) -> Self {
        RowsParams { rows: rows as u32, width: width as u32, _pad: [0; 2] }
    }
    /// One invocation per gathered element.
    pub fn extent(&self) -> [u32; 3] {
        [self.rows * self.width, 1, 1]
    }
}

pub fn bind_gather(
    kernel: &Kernel,
    gpu: &Gpu,
    params: &Uniform<RowsParams>,
    index: &crate::gpu::GpuBuffer,
    src: &crate::gpu::GpuBuffer,
    dst: &crate::gpu::GpuBuffer,
) -> Step {
    kernel.bind(gpu, &[&params.buffer, index, src, dst])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::{assert_close, poisoned, random};
    use crate::ops::test_support::{kernels, run_once};

    crate::gpu_test! {
        async fn gather_rows_picks_the_indexed_rows(gpu: Gpu) {
            let [ks, _] = kernels(&gpu).await;
            let (src_rows, width) = (11, 13);
            let src = random(src_rows * width, 51, 1.0);
            let index: Vec<u32> = vec![10, 0, 4, 4];
            let params = RowsParams::new(index.len(), width);
            let dst = poisoned(&gpu, "d", index.len() * width);
            let step = bind_gather(&ks.gather_rows, &gpu, &Uniform::new(&gpu, "g", &params), &gpu.upload("i", &index), &gpu.upload("s", &src), &dst);
            let got = run_once(&gpu, &step, params.extent(), &dst, index.len() * width).await;
            let want: Vec<f64> = index.iter().flat_map(|&i| src[i as usize * width..][..width].iter().map(|&v| v as f64)).collect();
            assert_close("gather rows", &got, &want, 0.0, 0.0);
        }
    }
}
