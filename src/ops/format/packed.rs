//! [`PackedWeight`]: one matrix in a weight format, as the kernels read it. Packs Hugging
//! Face rows (a slice of rows at a time for the token table), moves whole columns between
//! matrices (q, k, v into one qkv; slices of the token table), dequantizes for the CPU
//! references and uploads to the GPU. Where each format puts the numbers is in `layout`.

use super::layout::{Layout, WeightFormat, QUANT_BLOCK};
use super::quantize::quantize_block;
use crate::error::{Error, Result};

/// One matrix in a [`WeightFormat`], in the layout the kernels read.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedWeight {
    pub format: WeightFormat,
    /// Output columns (Hugging Face's first dimension).
    pub n: usize,
    /// Inputs (its second).
    pub k: usize,
    /// `[kp / k_per_row, np, words_per_column]` little-endian words.
    pub data: Vec<u32>,
    /// f16 bits `[kp / 32, np]`; empty for f32 and f16.
    pub scales: Vec<u16>,
}

impl PackedWeight {
    /// Packs a Hugging Face weight `w` `[n, k]` (row-major).
    pub fn pack(format: WeightFormat, w: &[f32], n: usize, k: usize) -> PackedWeight {
        assert_eq!(w.len(), n * k, "pack: {n}x{k} weight holds {} values", w.len());
        let mut packed = PackedWeight::zeroed(format, n, k);
        packed.pack_rows(0, w);
        packed
    }

    /// An `[n, k]` matrix of zeros (padding included: zero words, zero scales),
    /// to be filled by [`PackedWeight::pack_rows`].
    pub fn zeroed(format: WeightFormat, n: usize, k: usize) -> PackedWeight {
        let Layout { np, data_rows, words_per_column: wpc, scale_rows, .. } = format.layout(n, k);
        PackedWeight {
            format,
            n,
            k,
            data: vec![0; data_rows * np * wpc],
            scales: vec![0; scale_rows * np],
        }
    }

    /// Packs Hugging Face rows `first ..` (`rows`: whole rows of k values) into
    /// their columns. Columns are independent in every format (blocks run along
    /// k), so a large matrix (the token table) is packed a slice of rows at a
    /// time, never held whole in f32.
    pub fn pack_rows(&mut self, first: usize, rows: &[f32]) {
        let (format, k) = (self.format, self.k);
        assert!(
            rows.len().is_multiple_of(k) && first + rows.len() / k <= self.n,
            "pack_rows: {} values at row {first} of a {}x{k} matrix",
            rows.len(),
            self.n
        );
        let Layout { np, data_rows, words_per_column: wpc, scale_rows, .. } = self.layout();
        let at = |col: usize, i: usize| if i < k { rows[(col - first) * k + i] } else { 0.0 };
        let (data, scales) = (&mut self.data, &mut self.scales);
        for col in first..first + rows.len() / k {
            match format {
                WeightFormat::F32 | WeightFormat::F16 => {
                    for r in 0..data_rows {
                        let v: [f32; 4] = std::array::from_fn(|j| at(col, 4 * r + j));
                        let words = &mut data[(r * np + col) * wpc..][..wpc];
                        if format == WeightFormat::F32 {
                            for (word, x) in words.iter_mut().zip(v) {
                                *word = x.to_bits();
                            }
                        } else {
                            let h = v.map(|x| half::f16::from_f32(x).to_bits() as u32);
                            words[0] = h[0] | h[1] << 16;
                            words[1] = h[2] | h[3] << 16;
                        }
                    }
                }
                WeightFormat::Q8 | WeightFormat::Q4 => {
                    for b in 0..scale_rows {
                        let block: [f32; QUANT_BLOCK] =
                            std::array::from_fn(|j| at(col, b * QUANT_BLOCK + j));
                        let (scale, q) = quantize_block(format, &block);
                        scales[b * np + col] = scale.to_bits();
                        let per_row = format.k_per_row();
                        for (j, chunk) in q.chunks_exact(per_row).enumerate() {
                            let r = b * QUANT_BLOCK / per_row + j;
                            let bits = 32 / per_row as u32;
                            let mask = (1u32 << bits) - 1;
                            data[r * np + col] =
                                chunk.iter().enumerate().fold(0, |word, (i, &v)| {
                                    word | ((v as u32) & mask) << (bits * i as u32)
                                });
                        }
                    }
                }
            }
        }
    }

    /// The first NaN or infinity among the stored numbers, if any: which part
    /// (`"data"` or `"scales"`), the value, and its element index in that part
    /// as stored (the model file's order). q8 and q4 data are integers.
    pub fn first_non_finite(&self) -> Option<(&'static str, f32, usize)> {
        let halves = |h: &[u16]| {
            h.iter()
                .position(|&b| !half::f16::from_bits(b).is_finite())
                .map(|i| (half::f16::from_bits(h[i]).to_f32(), i))
        };
        let data = match self.format {
            WeightFormat::F32 => self
                .data
                .iter()
                .position(|&w| !f32::from_bits(w).is_finite())
                .map(|i| (f32::from_bits(self.data[i]), i)),
            WeightFormat::F16 => halves(bytemuck::cast_slice(&self.data)),
            WeightFormat::Q8 | WeightFormat::Q4 => None,
        };
        data.map(|(v, i)| ("data", v, i))
            .or_else(|| halves(&self.scales).map(|(v, i)| ("scales", v, i)))
    }

    pub fn layout(&self) -> Layout {
        self.format.layout(self.n, self.k)
    }

    /// n rounded up to 4: the columns a data row holds.
    pub fn padded_n(&self) -> usize {
        self.layout().np
    }

    /// A storage buffer holding the data words, then the scales two per word
    /// (both written in place: no copy of the matrix is made).
    pub fn upload(&self, gpu: &crate::gpu::Gpu, label: &str) -> crate::gpu::GpuBuffer {
        let scales: &[u8] = bytemuck::cast_slice(&self.scales);
        // Scales are whole words: padded_n is a multiple of 4, so a row of them is 8-byte aligned.
        gpu.upload_parts(label, &[bytemuck::cast_slice(&self.data), scales])
    }

    /// The weights these bytes stand for, Hugging Face layout `[n, k]`: what the
    /// kernels compute with, so references use it.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.n * self.k];
        for (col, row) in out.chunks_exact_mut(self.k.max(1)).enumerate() {
            self.column_into(col, row);
        }
        out
    }

    /// Column `col` (Hugging Face's row `col`: `k` values) into `out`, as the
    /// kernels compute with it (a token's row of the embedding table).
    pub fn column_into(&self, col: usize, out: &mut [f32]) {
        let (np, f) = (self.padded_n(), self.format);
        let wpc = f.words_per_column();
        for (i, out) in out.iter_mut().enumerate().take(self.k) {
            let r = i / f.k_per_row();
            let words = &self.data[(r * np + col) * wpc..][..wpc];
            let j = i % f.k_per_row();
            let scale = || half::f16::from_bits(self.scales[(i / QUANT_BLOCK) * np + col]).to_f32();
            *out = match f {
                WeightFormat::F32 => f32::from_bits(words[j]),
                WeightFormat::F16 => {
                    half::f16::from_bits((words[j / 2] >> (16 * (j % 2))) as u16).to_f32()
                }
                WeightFormat::Q8 => ((words[0] >> (8 * j)) as u8 as i8) as f32 * scale(),
                WeightFormat::Q4 => (((words[0] >> (4 * j)) & 15) as i32 - 8) as f32 * scale(),
            };
        }
    }

    /// Columns of several matrices side by side (q, k and v into one qkv): same
    /// format and k. Columns are independent in every format (blocks run along
    /// k), so this moves bytes and never requantizes.
    pub fn concat_columns(parts: &[PackedWeight]) -> Result<PackedWeight> {
        let first = &parts[0];
        if let Some(bad) = parts.iter().find(|p| p.format != first.format || p.k != first.k) {
            return Err(Error::Internal(format!(
                "cannot place a {} {}x{} matrix beside a {} {}x{} one",
                bad.format.name(),
                bad.n,
                bad.k,
                first.format.name(),
                first.n,
                first.k
            )));
        }
        let n = parts.iter().map(|p| p.n).sum();
        let mut sources = Vec::new();
        for part in parts {
            sources.extend((0..part.n).map(|col| (part, col)));
        }
        Ok(Self::gather_columns(first.format, n, first.k, &sources))
    }

    /// Columns `first .. first + count` as a matrix of their own (a slice of the
    /// token table small enough for one binding).
    pub fn slice_columns(&self, first: usize, count: usize) -> PackedWeight {
        assert!(first + count <= self.n, "slice {first}+{count} of {} columns", self.n);
        let sources: Vec<_> = (first..first + count).map(|col| (self, col)).collect();
        Self::gather_columns(self.format, count, self.k, &sources)
    }

    /// A matrix whose column j is column `sources[j].1` of `sources[j].0`.
    fn gather_columns(
        format: WeightFormat,
        n: usize,
        k: usize,
        sources: &[(&PackedWeight, usize)],
    ) -> PackedWeight {
        let Layout { np, data_rows, words_per_column: wpc, scale_rows, .. } = format.layout(n, k);
        let mut data = vec![0u32; data_rows * np * wpc];
        let mut scales = vec![0u16; scale_rows * np];
        for (j, &(src, col)) in sources.iter().enumerate() {
            let src_np = src.padded_n();
            for r in 0..data_rows {
                data[(r * np + j) * wpc..][..wpc]
                    .copy_from_slice(&src.data[(r * src_np + col) * wpc..][..wpc]);
            }
            for r in 0..scale_rows {
                scales[r * np + j] = src.scales[r * src_np + col];
            }
        }
        PackedWeight { format, n, k, data, scales }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::random;

    #[test]
    fn f32_layout_is_k_major_units_of_four() {
        // w = [[1, 2, 3], [4, 5, 6]]: n = 2 columns, k = 3, padded to 4 columns and 4 k.
        let p = PackedWeight::pack(WeightFormat::F32, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3);
        let got: Vec<f32> = p.data.iter().map(|w| f32::from_bits(*w)).collect();
        assert_eq!(
            got,
            [1.0, 2.0, 3.0, 0.0, 4.0, 5.0, 6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(p.dequantize(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn packing_a_few_rows_at_a_time_equals_packing_at_once() {
        // n = 10 and k = 70: padded columns and a padded block in every format.
        let (n, k) = (10, 70);
        let w = random(n * k, 5, 1.0);
        for format in WeightFormat::ALL {
            let mut sliced = PackedWeight::zeroed(format, n, k);
            for (first, rows) in [(0, 3), (3, 1), (4, 6)] {
                sliced.pack_rows(first, &w[first * k..(first + rows) * k]);
            }
            assert_eq!(sliced, PackedWeight::pack(format, &w, n, k), "{format:?}");
            assert_ne!(sliced, PackedWeight::zeroed(format, n, k));
        }
    }

    #[test]
    fn q8_block_by_hand() {
        // One column, k = 32: max |w| = 2.54 → scale 0.02 (f16: 0.0200043), 2.54 → 127, -1.0 → -50.
        let mut w = vec![0.0f32; 32];
        w[0] = 2.54;
        w[1] = -1.0;
        w[5] = 0.03;
        let p = PackedWeight::pack(WeightFormat::Q8, &w, 1, 32);
        let s = half::f16::from_f32(0.02).to_f32();
        assert_eq!(p.scales[0], half::f16::from_f32(0.02).to_bits());
        assert_eq!(p.data[0], 127u32 | ((-50i8 as u8 as u32) << 8));
        // k 4..7 of column 0 are the next data row (4 padded columns on): 0.03 / 0.02 → 1 in byte 1.
        assert_eq!(p.data[4], 1 << 8);
        let d = p.dequantize();
        assert_eq!((d[0], d[1]), (127.0 * s, -50.0 * s));
    }

    #[test]
    fn q4_block_by_hand() {
        // Every value a multiple of 0.5 and the extreme -4: q4_0's scale 0.5 is exact, so the
        // search keeps it.
        let mut w = vec![0.0f32; 32];
        w[0] = -4.0;
        w[1] = 1.0;
        w[9] = 3.5;
        let p = PackedWeight::pack(WeightFormat::Q4, &w, 1, 32);
        let s = half::f16::from_bits(p.scales[0]).to_f32();
        // Nibbles hold q + 8: k = 0 is nibble 0 of word 0; k = 9 nibble 1 of the next data row.
        let nib = |word: u32, i: u32| ((word >> (4 * i)) & 15) as f32 - 8.0;
        let d = p.dequantize();
        assert_eq!(
            (d[0], d[1], d[9]),
            (nib(p.data[0], 0) * s, nib(p.data[0], 1) * s, nib(p.data[4], 1) * s)
        );
        // Here the plain q4_0 scale 0.5 is exact for every value: the search keeps it.
        assert_eq!(s, 0.5);
        assert_eq!(p.data[0], 0x8888_88a0);
        assert_eq!(p.data[4], 0x8888_88f8);
    }

    #[test]
    fn quantization_error_is_bounded_by_the_step() {
        let (n, k) = (7, 70);
        let w = random(n * k, 5, 1.0);
        for format in WeightFormat::ALL {
            let p = PackedWeight::pack(format, &w, n, k);
            let d = p.dequantize();
            for col in 0..n {
                for i in 0..k {
                    let scale = || {
                        half::f16::from_bits(p.scales[(i / 32) * p.padded_n() + col]).to_f32().abs()
                    };
                    // q = round(w / s) against the rounded scale s itself: half a step, except where
                    // the clamp bites: q8 past 127 by the scale's f16 rounding (< 0.05 step), q4 at
                    // +|w_max| when w_max is negative (up to a whole step, as ggml's q4_0).
                    let bound = match format {
                        WeightFormat::F32 => 0.0,
                        WeightFormat::F16 => w[col * k + i].abs() * 2f32.powi(-11) + 2f32.powi(-25),
                        WeightFormat::Q8 => scale() * 0.55,
                        // The searched scale may clip the extreme by up to 20%: 2 steps at most.
                        WeightFormat::Q4 => 2.0 * scale(),
                    };
                    let err = (d[col * k + i] - w[col * k + i]).abs();
                    assert!(
                        err <= bound,
                        "{format:?} [{col}, {i}]: {} vs {}",
                        d[col * k + i],
                        w[col * k + i]
                    );
                }
            }
        }
    }

    #[test]
    fn concat_and_slice_move_whole_columns() {
        let k = 40;
        let a = random(8 * k, 1, 1.0);
        let b = random(4 * k, 2, 1.0);
        for format in WeightFormat::ALL {
            let (pa, pb) =
                (PackedWeight::pack(format, &a, 8, k), PackedWeight::pack(format, &b, 4, k));
            let joined = PackedWeight::concat_columns(&[pa.clone(), pb.clone()]).unwrap();
            assert_eq!(
                joined.dequantize(),
                [pa.dequantize(), pb.dequantize()].concat(),
                "{format:?} concat"
            );
            assert_eq!(joined.slice_columns(8, 4), pb, "{format:?} slice of the second part");
            // A slice ending mid group: its padding columns are zero again.
            let part = joined.slice_columns(4, 6);
            assert_eq!(
                part.dequantize(),
                joined.dequantize()[4 * k..10 * k],
                "{format:?} slice 4..10"
            );
            assert_eq!(
                part,
                PackedWeight::pack(format, &[&a[4 * k..], &b[..2 * k]].concat(), 6, k),
                "{format:?} slice equals packing the slice"
            );
        }
        // Widths that are not whole groups of 4 (a fixture's hidden size is 30).
        let odd = PackedWeight::pack(WeightFormat::Q4, &a[..3 * k], 3, k);
        let three = PackedWeight::concat_columns(&[odd.clone(), odd.clone(), odd.clone()]).unwrap();
        assert_eq!(
            three.dequantize(),
            [odd.dequantize(), odd.dequantize(), odd.dequantize()].concat()
        );
        let other_k = PackedWeight::pack(WeightFormat::Q4, &a[..3 * 8], 3, 8);
        assert!(PackedWeight::concat_columns(&[odd, other_k]).is_err());
    }
}
