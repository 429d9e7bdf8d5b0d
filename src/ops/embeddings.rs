//! The embedding kernels: `shaders/im2col.wgsl` (patches for the patch-embedding
//! convolution), `shaders/vision_embeddings.wgsl` (class token + positions) and
//! `shaders/text_embeddings.wgsl` (token gather + positions).

use crate::gpu::{Gpu, Kernel, Step, Uniform};
use crate::ops::format::WeightFormat;

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Im2colParams {
    pub batch: u32,
    pub channels: u32,
    pub image_size: u32,
    pub patch: u32,
}

impl Im2colParams {
    pub fn new(batch: usize, channels: usize, image_size: usize, patch: usize) -> Self {
        Im2colParams {
            batch: batch as u32,
            channels: channels as u32,
            image_size: image_size as u32,
            patch: patch as u32,
        }
    }
    /// One invocation per patch element.
    pub fn extent(&self) -> [u32; 3] {
        let grid = self.image_size / self.patch;
        [self.batch * grid * grid * self.channels * self.patch * self.patch, 1, 1]
    }
}

pub fn bind_im2col(
    kernel: &Kernel,
    gpu: &Gpu,
    params: &Uniform<Im2colParams>,
    pixels: &crate::gpu::GpuBuffer,
    patches: &crate::gpu::GpuBuffer,
) -> Step {
    kernel.bind(gpu, &[&params.buffer, pixels, patches])
}

/// Reference for the whole patch embedding: a stride-`patch` convolution without bias,
/// computed directly (not through im2col), output [batch · grid², width].
pub fn reference_patch_conv(
    pixels: &[f32],
    weight: &[f32],
    batch: usize,
    channels: usize,
    size: usize,
    patch: usize,
    width: usize,
) -> Vec<f64> {
    let grid = size / patch;
    let mut out = vec![0.0; batch * grid * grid * width];
    for b in 0..batch {
        for gy in 0..grid {
            for gx in 0..grid {
                for o in 0..width {
                    let mut acc = 0.0;
                    for c in 0..channels {
                        for ky in 0..patch {
                            for kx in 0..patch {
                                let px = pixels[((b * channels + c) * size + gy * patch + ky)
                                    * size
                                    + gx * patch
                                    + kx] as f64;
                                acc += px
                                    * weight[((o * channels + c) * patch + ky) * patch + kx] as f64;
                            }
                        }
                    }
                    out[((b * grid + gy) * grid + gx) * width + o] = acc;
                }
            }
        }
    }
    out
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct VisionEmbeddingsParams {
    pub batch: u32,
    pub tokens: u32,
    pub width: u32,
    /// 1 with a class token first (CLIP), 0 without (SigLIP).
    pub class_tokens: u32,
}

impl VisionEmbeddingsParams {
    pub fn new(batch: usize, tokens: usize, width: usize, class_tokens: usize) -> Self {
        VisionEmbeddingsParams {
            batch: batch as u32,
            tokens: tokens as u32,
            width: width as u32,
            class_tokens: class_tokens as u32,
        }
    }
    pub fn extent(&self) -> [u32; 3] {
        [self.batch * self.tokens * self.width, 1, 1]
    }
}

pub fn bind_vision(
    kernel: &Kernel,
    gpu: &Gpu,
    params: &Uniform<VisionEmbeddingsParams>,
    patch_embeds: &crate::gpu::GpuBuffer,
    class_embedding: &crate::gpu::GpuBuffer,
    positions: &crate::gpu::GpuBuffer,
    out: &crate::gpu::GpuBuffer,
) -> Step {
    kernel.bind(gpu, &[&params.buffer, patch_embeds, class_embedding, positions, out])
}

#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct TextEmbeddingsParams {
    pub rows: u32,
    pub seq: u32,
    pub width: u32,
    pub first_id: u32,
    pub id_count: u32,
    pub _pad: [u32; 3],
}

impl TextEmbeddingsParams {
    pub fn new(batch: usize, seq: usize, width: usize, chunk: TableChunk) -> Self {
        TextEmbeddingsParams {
            rows: (batch * seq) as u32,
            seq: seq as u32,
            width: width as u32,
            first_id: chunk.first_id as u32,
            id_count: chunk.count as u32,
            _pad: [0; 3],
        }
    }
    pub fn extent(&self) -> [u32; 3] {
        [self.rows * self.width, 1, 1]
    }
}

/// Rows `first_id .. first_id + count` of a token table, small enough for one binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableChunk {
    pub first_id: usize,
    pub count: usize,
}

/// Splits a `[vocab, width]` table in `format` into row ranges of at most
/// `max_bytes` each (lavapipe binds at most 128 MiB; ViT-L/14's f32 token table
/// is 145 MiB).
pub fn table_chunks(
    vocab: usize,
    width: usize,
    max_bytes: u64,
    format: WeightFormat,
) -> Vec<TableChunk> {
    let row_bytes = format.layout(4, width).bytes() as u64 / 4;
    let rows_per_chunk = ((max_bytes / row_bytes) as usize).max(1);
    (0..vocab.div_ceil(rows_per_chunk))
        .map(|i| TableChunk {
            first_id: i * rows_per_chunk,
            count: rows_per_chunk.min(vocab - i * rows_per_chunk),
        })
        .collect()
}

pub fn bind_text(
    kernel: &Kernel,
    gpu: &Gpu,
    params: &Uniform<TextEmbeddingsParams>,
    ids: &crate::gpu::GpuBuffer,
    table_chunk: &crate::gpu::GpuBuffer,
    positions: &crate::gpu::GpuBuffer,
    out: &crate::gpu::GpuBuffer,
) -> Step {
    kernel.bind(gpu, &[&params.buffer, ids, table_chunk, positions, out])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::{assert_close, poisoned, random};
    use crate::ops::matmul::{self, EpilogueFlags, MatmulParams};
    use crate::ops::test_support::{all_kernels, kernels, run_once};
    use crate::ops::{PackedWeight, WeightFormat};

    crate::gpu_test! {
        async fn patch_embedding_is_a_strided_convolution(gpu: Gpu) {
            // 23 = 3 · 7 + 2: the last two pixel rows and columns are outside every patch.
            for (batch, channels, size, patch, width) in [(1, 1, 1, 1, 1), (2, 3, 23, 7, 13), (3, 3, 32, 16, 30)] {
                let grid = size / patch;
                let pixels = random(batch * channels * size * size, 21, 2.0);
                let weight = random(width * channels * patch * patch, 22, 0.3);
                let ip = Im2colParams::new(batch, channels, size, patch);
                let cols = channels * patch * patch;
                let patches = gpu.scratch("patches", batch * grid * grid * cols);
                let mp = MatmulParams::new(batch * grid * grid, width, cols, EpilogueFlags::NONE);
                let want = reference_patch_conv(&pixels, &weight, batch, channels, size, patch, width);
                let packed = PackedWeight::pack(WeightFormat::F32, &weight, width, cols).upload(&gpu, "w");
                for ks in kernels(&gpu).await {
                    let out = poisoned(&gpu, "out", batch * grid * grid * width);
                    let im2col = bind_im2col(&ks.im2col, &gpu, &Uniform::new(&gpu, "i", &ip), &gpu.upload("px", &pixels), &patches);
                    let mm = matmul::bind(&ks.matmul, &gpu, &Uniform::new(&gpu, "m", &mp), &patches, &packed, None, None, &out);
                    let mut encoder = gpu.device.create_command_encoder(&Default::default());
                    {
                        let mut pass = encoder.begin_compute_pass(&Default::default());
                        im2col.dispatch_over(&mut pass, ip.extent());
                        mm.dispatch_over(&mut pass, mp.extent());
                    }
                    gpu.queue.submit([encoder.finish()]);
                    let got = gpu.read_back(&out, batch * grid * grid * width).await.unwrap();
                    assert_close(&format!("{:?} patch conv {batch}x{channels}x{size}x{size} p{patch} -> {width}", ks.family), &got, &want, 1e-5, 1e-4);
                }
            }
        }

        async fn vision_embeddings_prepend_class_and_add_positions(gpu: Gpu) {
            let [ks, _] = kernels(&gpu).await;
            // With a class token (CLIP) and without (SigLIP).
            for class_tokens in [1, 0] {
                let (batch, tokens, width) = (3, 4 + class_tokens, 7);
                let patches = random(batch * 4 * width, 31, 1.0);
                let class = random(width, 32, 1.0);
                let pos = random(tokens * width, 33, 1.0);
                let params = VisionEmbeddingsParams::new(batch, tokens, width, class_tokens);
                let out = poisoned(&gpu, "o", batch * tokens * width);
                let step = bind_vision(&ks.vision_embeddings, &gpu, &Uniform::new(&gpu, "v", &params), &gpu.upload("p", &patches),
                    &gpu.upload("c", &class), &gpu.upload("pos", &pos), &out);
                let got = run_once(&gpu, &step, params.extent(), &out, batch * tokens * width).await;
                let mut want = vec![0.0; batch * tokens * width];
                for b in 0..batch {
                    for t in 0..tokens {
                        for c in 0..width {
                            let v = match t.checked_sub(class_tokens) {
                                None => class[c],
                                Some(patch) => patches[(b * 4 + patch) * width + c],
                            };
                            want[(b * tokens + t) * width + c] = v as f64 + pos[t * width + c] as f64;
                        }
                    }
                }
                // One f32 addition: exact up to a half ulp.
                assert_close(&format!("vision embeddings, {class_tokens} class token"), &got, &want, 1e-6, 1e-6);
            }
        }

        async fn text_embeddings_gather_across_table_chunks(gpu: Gpu) {
            let (vocab, width, max_pos, batch, seq) = (50, 37, 9, 2, 7);
            let table = random(vocab * width, 41, 1.0);
            let pos = random(max_pos * width, 42, 1.0);
            let ids: Vec<u32> = vec![0, 49, 17, 18, 3, 3, 31, 48, 1, 2, 20, 16, 33, 49];
            // 16 rows per chunk: four chunks, ids on every side of each boundary.
            let chunks = table_chunks(vocab, width, 16 * width as u64 * 4, WeightFormat::F32);
            assert_eq!(chunks.len(), 4);
            let ids_buf = gpu.upload("ids", &ids);
            let pos_buf = gpu.upload("pos", &pos);
            // Every format family pair gathers (the non-f32 kernels' first family suffices: one kernel).
            for ks in all_kernels(&gpu).await.into_iter().step_by(2) {
                let packed = PackedWeight::pack(ks.format, &table, vocab, width);
                let exact = packed.dequantize();
                let out = poisoned(&gpu, "o", batch * seq * width);
                let mut encoder = gpu.device.create_command_encoder(&Default::default());
                let steps: Vec<_> = chunks.iter().map(|&chunk| {
                    let params = TextEmbeddingsParams::new(batch, seq, width, chunk);
                    let rows = packed.slice_columns(chunk.first_id, chunk.count).upload(&gpu, "table");
                    (bind_text(&ks.text_embeddings, &gpu, &Uniform::new(&gpu, "t", &params), &ids_buf, &rows, &pos_buf, &out), params.extent())
                }).collect();
                {
                    let mut pass = encoder.begin_compute_pass(&Default::default());
                    for (step, groups) in &steps {
                        step.dispatch_over(&mut pass, *groups);
                    }
                }
                gpu.queue.submit([encoder.finish()]);
                let got = gpu.read_back(&out, batch * seq * width).await.unwrap();
                let want: Vec<f64> = (0..batch * seq * width)
                    .map(|e| {
                        let (row, c) = (e / width, e % width);
                        exact[ids[row] as usize * width + c] as f64 + pos[(row % seq) * width + c] as f64
                    })
                    .collect();
                // One f32 addition of exactly dequantized values: exact up to a half ulp.
                assert_close(&format!("{:?} text embeddings", ks.format), &got, &want, 1e-6, 1e-6);
            }
        }
    }

    #[test]
    fn table_chunks_cover_the_vocabulary_once() {
        let chunks = table_chunks(49408, 768, 128 << 20, WeightFormat::F32);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks.iter().map(|c| c.count).sum::<usize>(), 49408);
        assert_eq!(chunks[1].first_id, chunks[0].count);
        assert!(chunks.iter().all(|c| c.count as u64 * 768 * 4 <= 128 << 20));
        assert_eq!(table_chunks(49408, 768, 128 << 20, WeightFormat::Q8).len(), 1);
    }
}
