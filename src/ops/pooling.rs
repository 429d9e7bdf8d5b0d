//! `shaders/gather_rows.wgsl` (pick the pooled token of each sequence) and
//! `shaders/l2_normalize.wgsl` (unit-length embeddings for cosine scores).

use crate::gpu::{workgroups_1d, Gpu, Kernel, Step, Uniform};
use crate::ops::layernorm::rows_grid;

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
    /// gather_rows: one invocation per element.
    pub fn gather_workgroups(&self) -> [u32; 3] {
        workgroups_1d((self.rows * self.width) as usize)
    }
    /// l2_normalize: one workgroup per row.
    pub fn normalize_workgroups(&self) -> [u32; 3] {
        rows_grid(self.rows)
    }
}

pub fn bind_gather(kernel: &Kernel, gpu: &Gpu, params: &Uniform<RowsParams>, index: &wgpu::Buffer, src: &wgpu::Buffer, dst: &wgpu::Buffer) -> Step {
    kernel.bind(gpu, &[&params.buffer, index, src, dst])
}

pub fn bind_normalize(kernel: &Kernel, gpu: &Gpu, params: &Uniform<RowsParams>, x: &wgpu::Buffer, y: &wgpu::Buffer) -> Step {
    kernel.bind(gpu, &[&params.buffer, x, y])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::{assert_close, random};
    use crate::ops::test_support::{kernels, run_once};

    crate::gpu_test! {
        async fn gather_rows_picks_the_indexed_rows(gpu: Gpu) {
            let ks = kernels(&gpu).await;
            let (src_rows, width) = (11, 13);
            let src = random(src_rows * width, 51, 1.0);
            let index: Vec<u32> = vec![10, 0, 4, 4];
            let params = RowsParams::new(index.len(), width);
            let dst = gpu.scratch("d", index.len() * width);
            let step = bind_gather(&ks.gather_rows, &gpu, &Uniform::new(&gpu, "g", &params), &gpu.upload("i", &index), &gpu.upload("s", &src), &dst);
            let got = run_once(&gpu, &step, params.gather_workgroups(), &dst, index.len() * width).await;
            let want: Vec<f64> = index.iter().flat_map(|&i| src[i as usize * width..][..width].iter().map(|&v| v as f64)).collect();
            assert_close("gather rows", &got, &want, 0.0, 0.0);
        }

        async fn l2_normalize_gives_unit_rows(gpu: Gpu) {
            let ks = kernels(&gpu).await;
            for (rows, cols) in [(1, 1), (3, 24), (2, 700)] {
                let x = random(rows * cols, 52, 4.0);
                let params = RowsParams::new(rows, cols);
                let y = gpu.scratch("y", rows * cols);
                let step = bind_normalize(&ks.l2_normalize, &gpu, &Uniform::new(&gpu, "n", &params), &gpu.upload("x", &x), &y);
                let got = run_once(&gpu, &step, params.normalize_workgroups(), &y, rows * cols).await;
                let want: Vec<f64> = x
                    .chunks(cols)
                    .flat_map(|r| {
                        let norm = r.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
                        r.iter().map(move |&v| v as f64 / norm).collect::<Vec<_>>()
                    })
                    .collect();
                assert_close(&format!("l2 normalize {rows}x{cols}"), &got, &want, 1e-6, 1e-5);
            }
        }
    }
}
