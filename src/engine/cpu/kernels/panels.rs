//! Weight panels: a [`PackedWeight`] repacked once, at load, into the layout the CPU
//! matmul reads.
//!
//! **Layout.** The `n` output columns are cut into panels of `nr` columns (the last one
//! padded with zero columns); a panel is one contiguous run of memory, and inside it k
//! advances slowest, so the micro-kernel streams a panel front to back while it sweeps k:
//! - f32 values (from f32, and from f16 widened): `[panel][k][nr]`, element
//!   `(p · kp + i) · nr + j` is column `p · nr + j` at input `i`. One k step is `nr`
//!   consecutive floats: four `f32x4` loads for `nr = 16`.
//! - i8 values (from q8, and from q4 unpacked to `q - 8`): `[panel][k / 2][nr][2]`, the two
//!   inputs of a k pair side by side per column, because `i32x4.dot_i16x8_s` multiplies
//!   adjacent lane pairs: sixteen bytes widen to two `i16x8`, each four columns × one k
//!   pair, and one dot gives four columns' partial sums. One f32 scale per (32-block,
//!   column): `[panel][kp / 32][nr]`.
//!
//! **Blocking.** `nr` is the micro-kernel's width (`matmul::panel_width`): 16 on wasm32
//! (the i8 kernel's 4 × 16 register tile, and two halves of 8 for the f32 kernel's 6 × 8,
//! the shape of XNNPACK's `6x8` wasmsimd f32 GEMM; MLAS' wasm SGEMM packs B in 16-column
//! strips too), and for i8 panels on x86_64 with AVX2 + FMA (4 × 16 of `__m256i` sums); [`NATIVE_NR`] otherwise natively, where each
//! panel is one call of `matrixmultiply`'s sgemm (a strided `[kp, nr]` matrix) on one rayon
//! task.
//!
//! **Memory.** f32 panels cost what the f32 matrix does. f16 is widened at load: **2x the
//! bytes of its f16 file** (the kernels then run the f32 path; no f16 arithmetic on wasm).
//! q8 costs one byte per weight plus 4 bytes per 32 (1.125 B/weight, the file's 1.0625
//! plus the f32 scale). q4 is unpacked to the same i8 panels: **q8's memory, 2x its file**,
//! in exchange for one kernel and no nibble shuffles in the inner loop. A q8 ViT-B/32
//! (151 M weights in matrices) stays near 170 MB of panels.

use crate::ops::format::{PackedWeight, WeightFormat, QUANT_BLOCK};

/// Panel width on wasm32: the micro-kernel's 16 columns (`matmul/wasm.rs`).
pub const WASM_NR: usize = 16;

/// Panel width natively: one `matrixmultiply` call per panel and rayon task. 128 columns
/// give 6 tasks for a 768-wide layer (balanced on 2 or 3 cores) and keep a dequantized q8
/// panel (`kp · 128` f32: 384 KB at k = 768) within L2.
pub const NATIVE_NR: usize = 128;

/// The numbers of a [`Panels`].
#[derive(Clone, Debug, PartialEq)]
pub enum PanelValues {
    /// `[panel][kp][nr]` f32.
    F32(Vec<f32>),
    /// `[panel][kp / 2][nr][2]` integers in -127..=127 (q4: -8..=7), and their scales
    /// `[panel][kp / 32][nr]`: column j's weight i is `q · scales[(p, i / 32, j)]`.
    I8 { q: Vec<i8>, scales: Vec<f32> },
}

/// One weight matrix `[n, k]` as column panels (see the module header).
#[derive(Clone, Debug, PartialEq)]
pub struct Panels {
    /// Output columns.
    pub n: usize,
    /// Inputs.
    pub k: usize,
    /// k padded: to 4 (f32, f16) or 32 (q8, q4), as [`PackedWeight`] pads it. Padding is zero.
    pub kp: usize,
    /// Columns per panel.
    pub nr: usize,
    pub values: PanelValues,
}

/// Bytes [`Panels::new`] makes of an `[n, k]` matrix in `format` (see "Memory" above).
pub fn bytes_for(format: WeightFormat, n: usize, k: usize) -> u64 {
    let nr = super::matmul::panel_width(format) as u64;
    let (columns, kp) = (n.div_ceil(nr as usize) as u64 * nr, format.layout(n, k).kp as u64);
    match format {
        WeightFormat::F32 | WeightFormat::F16 => 4 * columns * kp,
        WeightFormat::Q8 | WeightFormat::Q4 => columns * kp + 4 * columns * kp / QUANT_BLOCK as u64,
    }
}

impl Panels {
    /// Panels of the width this CPU's matmul wants for w's format
    /// ([`super::matmul::panel_width`]).
    pub fn new(w: &PackedWeight) -> Panels {
        Panels::with_width(w, super::matmul::panel_width(w.format))
    }

    /// Panels of `nr` columns (even, so a k pair of i8 stays whole; tests use other widths).
    pub fn with_width(w: &PackedWeight, nr: usize) -> Panels {
        assert!(nr > 0 && nr.is_multiple_of(2), "panel width {nr}");
        let layout = w.layout();
        let (n, k, kp, np) = (w.n, w.k, layout.kp, layout.np);
        let panels = n.div_ceil(nr);
        // Element (col, i) of the packed data, for i < kp and col < n; see ops/format/layout.rs.
        let values = match w.format {
            WeightFormat::F32 | WeightFormat::F16 => {
                let mut out = vec![0f32; panels * kp * nr];
                for col in 0..n {
                    let (p, j) = (col / nr, col % nr);
                    for r in 0..kp / 4 {
                        for (t, v) in four_floats(w, r, np, col).into_iter().enumerate() {
                            out[(p * kp + 4 * r + t) * nr + j] = v;
                        }
                    }
                }
                PanelValues::F32(out)
            }
            WeightFormat::Q8 | WeightFormat::Q4 => {
                let mut q = vec![0i8; panels * kp * nr];
                let blocks = kp / QUANT_BLOCK;
                let mut scales = vec![0f32; panels * blocks * nr];
                let per_word = if w.format == WeightFormat::Q8 { 4 } else { 8 };
                for col in 0..n {
                    let (p, j) = (col / nr, col % nr);
                    for r in 0..kp / per_word {
                        let word = w.data[r * np + col];
                        for t in 0..per_word {
                            let i = r * per_word + t;
                            let v = if w.format == WeightFormat::Q8 {
                                (word >> (8 * t)) as u8 as i8
                            } else {
                                ((word >> (4 * t)) & 15) as i8 - 8
                            };
                            q[p * kp * nr + (i / 2) * 2 * nr + 2 * j + i % 2] = v;
                        }
                    }
                    for b in 0..blocks {
                        scales[(p * blocks + b) * nr + j] =
                            half::f16::from_bits(w.scales[b * np + col]).to_f32();
                    }
                }
                PanelValues::I8 { q, scales }
            }
        };
        Panels { n, k, kp, nr, values }
    }

    /// Number of panels.
    pub fn panels(&self) -> usize {
        self.n.div_ceil(self.nr)
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        match &self.values {
            PanelValues::F32(v) => 4 * v.len(),
            PanelValues::I8 { q, scales } => q.len() + 4 * scales.len(),
        }
    }

    /// Panel `p` as f32 `[kp][nr]` into `out` (a dequantized i8 panel: natively the
    /// quantized path runs sgemm on it, so the product is of exactly the stored weights).
    pub fn panel_f32(&self, p: usize, out: &mut [f32]) {
        let (kp, nr) = (self.kp, self.nr);
        let out = &mut out[..kp * nr];
        match &self.values {
            PanelValues::F32(v) => out.copy_from_slice(&v[p * kp * nr..][..kp * nr]),
            PanelValues::I8 { q, scales } => {
                let q = &q[p * kp * nr..][..kp * nr];
                let blocks = kp / QUANT_BLOCK;
                let scales = &scales[p * blocks * nr..][..blocks * nr];
                for (pair, (src, dst)) in
                    q.chunks_exact(2 * nr).zip(out.chunks_exact_mut(2 * nr)).enumerate()
                {
                    let s = &scales[(2 * pair / QUANT_BLOCK) * nr..][..nr];
                    let (even, odd) = dst.split_at_mut(nr);
                    // Eight columns at a time: fixed-size loops the compiler turns into byte
                    // shuffles, widenings and vector multiplies.
                    let pairs = src.chunks_exact(16).zip(s.chunks_exact(8));
                    for ((src, s), (e, o)) in
                        pairs.zip(even.chunks_exact_mut(8).zip(odd.chunks_exact_mut(8)))
                    {
                        for j in 0..8 {
                            e[j] = src[2 * j] as f32 * s[j];
                            o[j] = src[2 * j + 1] as f32 * s[j];
                        }
                    }
                    for j in nr - nr % 8..nr {
                        even[j] = src[2 * j] as f32 * s[j];
                        odd[j] = src[2 * j + 1] as f32 * s[j];
                    }
                }
            }
        }
    }

    /// The `[n, k]` weights these panels stand for (tests: equals `PackedWeight::dequantize`).
    pub fn to_rows(&self) -> Vec<f32> {
        let (kp, nr) = (self.kp, self.nr);
        let mut panel = vec![0f32; kp * nr];
        let mut rows = vec![0f32; self.n * self.k];
        for p in 0..self.panels() {
            self.panel_f32(p, &mut panel);
            for j in 0..nr.min(self.n - p * nr) {
                for i in 0..self.k {
                    rows[(p * nr + j) * self.k + i] = panel[i * nr + j];
                }
            }
        }
        rows
    }
}

/// Inputs `4r .. 4r + 4` of column `col` of an f32 or f16 [`PackedWeight`], as f32.
fn four_floats(w: &PackedWeight, r: usize, np: usize, col: usize) -> [f32; 4] {
    if w.format == WeightFormat::F32 {
        let words = &w.data[(r * np + col) * 4..][..4];
        std::array::from_fn(|t| f32::from_bits(words[t]))
    } else {
        let words = &w.data[(r * np + col) * 2..][..2];
        std::array::from_fn(|t| {
            half::f16::from_bits((words[t / 2] >> (16 * (t % 2))) as u16).to_f32()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::random;

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn panels_hold_exactly_the_dequantized_weights() {
        // n not a multiple of any width, k not a multiple of 4 or 32.
        for (n, k) in [(1, 1), (37, 70), (16, 32), (130, 45)] {
            let w = random(n * k, 3, 1.0);
            for format in WeightFormat::ALL {
                let packed = PackedWeight::pack(format, &w, n, k);
                for nr in [2, 16, 128] {
                    let panels = Panels::with_width(&packed, nr);
                    assert_eq!(panels.to_rows(), packed.dequantize(), "{format:?} {n}x{k} nr {nr}");
                }
            }
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn i8_layout_by_hand() {
        // Two columns, k = 32: column 1's inputs 0 and 1 are bytes 2 and 3 of the first pair,
        // its input 2 byte 2 of the second.
        let mut w = vec![0f32; 64];
        (w[32], w[33], w[34]) = (1.27, -0.5, 0.01);
        let panels = Panels::with_width(&PackedWeight::pack(WeightFormat::Q8, &w, 2, 32), 2);
        let PanelValues::I8 { q, scales } = &panels.values else { panic!("i8 panels") };
        assert_eq!(&q[..6], &[0, 0, 127, -50, 0, 0]);
        assert_eq!(q[4..8], [0, 0, 1, 0]);
        assert_eq!(scales[..2], [0.0, half::f16::from_f32(0.01).to_f32()]);
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn q8_vit_b32_fits() {
        // Bytes per weight of a 768 x 3072 layer: q8 and q4 1.125, f16 and f32 4.
        let bytes = |format| {
            let mut p = PackedWeight::zeroed(format, 16, 3072);
            p.n = 16;
            Panels::with_width(&p, 16).bytes() as f64 / (16.0 * 3072.0)
        };
        assert_eq!(bytes(WeightFormat::Q8), 1.125);
        assert_eq!(bytes(WeightFormat::Q4), 1.125);
        assert_eq!(bytes(WeightFormat::F16), 4.0);
        // So ViT-B/32's matrices, 151 M weights (both towers, token table included), take
        // 170 MB of q8 or q4 panels.
    }
}
