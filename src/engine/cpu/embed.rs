//! The CPU engine's gathers and copies around the matmuls: a ViT's patches
//! (im2col), its class token and positions, text token rows and positions, and
//! the rows a head pools. Memory-bound and small next to the matmuls (a
//! ViT-B/32 image moves about 1 MB through them), so plain loops; the layouts
//! are those of the WGSL kernels of `src/ops/embeddings.rs` and `pooling.rs`.

use crate::ops::format::PackedWeight;

/// The patches of `batch` images `[channels, size, size]` as rows of
/// `channels × patch × patch` values in Hugging Face's conv-weight order
/// (channel, then row, then column of the patch), patches row-major.
pub fn patches(
    pixels: &[f32],
    batch: usize,
    channels: usize,
    size: usize,
    patch: usize,
    out: &mut [f32],
) {
    let grid = size / patch;
    let mut rows = out.chunks_exact_mut(channels * patch * patch);
    for b in 0..batch {
        for gy in 0..grid {
            for gx in 0..grid {
                let row = rows.next().expect("out holds every patch");
                for c in 0..channels {
                    for ky in 0..patch {
                        let from =
                            ((b * channels + c) * size + gy * patch + ky) * size + gx * patch;
                        row[(c * patch + ky) * patch..][..patch]
                            .copy_from_slice(&pixels[from..][..patch]);
                    }
                }
            }
        }
    }
}

/// Per image: the class embedding then its `tokens - 1` patch embeddings, each
/// plus its position (rows of `width`).
pub fn vision_embeddings(
    patch_embeds: &[f32],
    class: &[f32],
    positions: &[f32],
    batch: usize,
    tokens: usize,
    width: usize,
    out: &mut [f32],
) {
    for b in 0..batch {
        for t in 0..tokens {
            let from = match t {
                0 => class,
                _ => &patch_embeds[(b * (tokens - 1) + t - 1) * width..][..width],
            };
            let row = &mut out[(b * tokens + t) * width..][..width];
            for ((o, &v), &p) in row.iter_mut().zip(from).zip(&positions[t * width..]) {
                *o = v + p;
            }
        }
    }
}

/// Row `ids[r]` of the token table (`[vocab, width]`, packed in any format and
/// unpacked one row at a time) plus the position of `r` in its sequence of `seq`.
pub fn token_embeddings(
    ids: &[u32],
    table: &PackedWeight,
    positions: &[f32],
    seq: usize,
    out: &mut [f32],
) {
    let width = table.k;
    for (r, (&id, row)) in ids.iter().zip(out.chunks_exact_mut(width)).enumerate() {
        table.column_into(id as usize, row);
        for (o, &p) in row.iter_mut().zip(&positions[(r % seq) * width..][..width]) {
            *o += p;
        }
    }
}

/// Rows `index[i]` of `x` (rows of `width`) into `out`.
pub fn gather_rows(index: &[u32], x: &[f32], width: usize, out: &mut [f32]) {
    for (&i, row) in index.iter().zip(out.chunks_exact_mut(width)) {
        row.copy_from_slice(&x[i as usize * width..][..width]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::random;
    use crate::ops::embeddings::reference_patch_conv;
    use crate::ops::format::WeightFormat;

    #[test]
    fn patches_times_the_flattened_kernel_are_the_convolution() {
        for (batch, channels, size, patch, width) in [(1, 1, 1, 1, 1), (2, 3, 23, 7, 13)] {
            let grid = size / patch;
            let cols = channels * patch * patch;
            let pixels = random(batch * channels * size * size, 21, 2.0);
            let weight = random(width * cols, 22, 0.3);
            let mut rows = vec![f32::NAN; batch * grid * grid * cols];
            patches(&pixels, batch, channels, size, patch, &mut rows);
            let want = reference_patch_conv(&pixels, &weight, batch, channels, size, patch, width);
            for (r, row) in rows.chunks_exact(cols).enumerate() {
                for o in 0..width {
                    let got: f64 = row
                        .iter()
                        .zip(&weight[o * cols..])
                        .map(|(&a, &b)| a as f64 * b as f64)
                        .sum();
                    // The same products in another order: f64 rounding only.
                    assert!((got - want[r * width + o]).abs() < 1e-12, "patch {r} output {o}");
                }
            }
        }
    }

    #[test]
    fn vision_embeddings_put_the_class_token_first_and_add_positions() {
        let (tokens, width) = (3, 2);
        let patch_embeds = [1.0, 2.0, 3.0, 4.0, /* image 1 */ 5.0, 6.0, 7.0, 8.0];
        let (class, positions) = ([10.0, 20.0], [0.5, 0.25, 100.0, 200.0, 1000.0, 2000.0]);
        let mut out = [f32::NAN; 12];
        vision_embeddings(&patch_embeds, &class, &positions, 2, tokens, width, &mut out);
        #[rustfmt::skip]
        let want = [10.5, 20.25, 101.0, 202.0, 1003.0, 2004.0,
                    10.5, 20.25, 105.0, 206.0, 1007.0, 2008.0];
        assert_eq!(out, want);
    }

    #[test]
    fn token_rows_are_the_tables_rows_in_every_format_plus_positions() {
        let (vocab, width, seq) = (37, 40, 2);
        let table = random(vocab * width, 5, 1.0);
        let positions = random(seq * width, 6, 1.0);
        let ids = [36u32, 0, 17, 17];
        for format in WeightFormat::ALL {
            let packed = PackedWeight::pack(format, &table, vocab, width);
            let rows = packed.dequantize();
            let mut out = vec![f32::NAN; ids.len() * width];
            token_embeddings(&ids, &packed, &positions, seq, &mut out);
            for (r, &id) in ids.iter().enumerate() {
                for c in 0..width {
                    let want = rows[id as usize * width + c] + positions[(r % seq) * width + c];
                    assert_eq!(out[r * width + c], want, "{format:?} row {r} col {c}");
                }
            }
        }
    }

    #[test]
    fn gathered_rows_are_the_indexed_rows() {
        let x = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0];
        let mut out = [f32::NAN; 4];
        gather_rows(&[2, 0], &x, 2, &mut out);
        assert_eq!(out, [20.0, 21.0, 0.0, 1.0]);
    }
}
