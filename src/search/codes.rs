//! Embeddings as int8 codes with one f32 scale per picture: a unit vector's
//! value `x` is stored as `round(x / scale)` with `scale = max|x| / 127`, so
//! each row uses the whole int8 range. 512 values take 516 bytes instead of
//! 2048; what ranking loses by it is measured in `tests/search.rs` and
//! `docs/search-index.md`.
//!
//! Ranking is a matrix-vector product of the codes with the query, itself
//! rounded to 16-bit integers: in wasm, `i32x4.dot_i16x8_s` on codes widened
//! to 16 bits ([`dot_i16`]); natively a loop the compiler vectorises (integer
//! sums may be reordered). Rounding the query to 16 bits costs far less than the
//! int8 codes do (the worst score error on the search folder, 1.9e-3, is the
//! same with an f32 query, `tests/search.rs`); an f32 query ran 38 ms on 100,000
//! rows of 512 in Chromium (its float sum cannot be reordered, and every code
//! needs three conversions), the integer one 5.8 ms (`BENCHMARKS.md`).

use crate::error::{Error, Result};
use crate::model::scores::unit_length;

/// Longest embedding accepted: every CLIP and SigLIP projection we know of is at most 1,280.
pub const MAX_DIM: usize = 4096;

/// Rows compared at once by [`Codes::close_pairs`]: 16 queries of 512 values are 16 KB, within L1.
const PAIR_BLOCK: usize = 16;

pub struct Codes {
    dim: usize,
    values: Vec<i8>,
    scales: Vec<f32>,
}

impl Codes {
    pub fn new(dim: usize) -> Result<Codes> {
        if dim == 0 || dim > MAX_DIM {
            return Err(Error::Input(format!(
                "embeddings of {dim} values (the limit is 1 to {MAX_DIM})"
            )));
        }
        Ok(Codes { dim, values: Vec::new(), scales: Vec::new() })
    }

    /// Codes read from a file, already checked for their sizes (`index_file.rs`).
    pub(super) fn from_parts(dim: usize, values: Vec<i8>, scales: Vec<f32>) -> Codes {
        debug_assert_eq!(values.len(), dim * scales.len());
        Codes { dim, values, scales }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn values(&self) -> &[i8] {
        &self.values
    }

    pub fn scales(&self) -> &[f32] {
        &self.scales
    }

    /// A unit-length copy of `embedding` as codes and their scale.
    pub fn quantize(embedding: &[f32]) -> Result<(Vec<i8>, f32)> {
        if embedding.iter().any(|v| !v.is_finite()) || embedding.iter().all(|&v| v == 0.0) {
            return Err(Error::Input("an embedding that is zero or not finite".into()));
        }
        let unit = unit_length(embedding);
        let max = unit.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = max / 127.0;
        Ok((unit.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale))
    }

    pub(super) fn push(&mut self, embedding: &[f32]) -> Result<()> {
        let (codes, scale) = Codes::quantize(embedding)?;
        self.values.extend(codes);
        self.scales.push(scale);
        Ok(())
    }

    pub(super) fn set(&mut self, i: usize, embedding: &[f32]) -> Result<()> {
        let (codes, scale) = Codes::quantize(embedding)?;
        self.values[i * self.dim..(i + 1) * self.dim].copy_from_slice(&codes);
        self.scales[i] = scale;
        Ok(())
    }

    pub(super) fn retain(&mut self, keep: &[bool]) {
        let dim = self.dim;
        let mut row = 0;
        self.values.retain(|_| {
            let k = keep[row / dim];
            row += 1;
            k
        });
        let mut k = keep.iter();
        self.scales.retain(|_| *k.next().unwrap_or(&true));
    }

    /// Row `i` as floats.
    pub fn row(&self, i: usize) -> Vec<f32> {
        let s = self.scales[i];
        self.values[i * self.dim..(i + 1) * self.dim].iter().map(|&c| c as f32 * s).collect()
    }

    /// Every row's dot product with `query` (of `dim` values).
    pub fn scores(&self, query: &[f32]) -> Vec<f32> {
        let (q, q_scale) = query_codes(query);
        self.values
            .chunks_exact(self.dim)
            .zip(&self.scales)
            .map(|(row, &scale)| dot_i16(row, &q) as f32 * (scale * q_scale))
            .collect()
    }

    /// Calls `found(i, j)` for every pair of rows `i < j` whose cosine is at
    /// least `threshold`. Rows are taken `PAIR_BLOCK` at a time as 16-bit
    /// queries (exactly) against every later row, so each later row is read
    /// once per block rather than once per row: the codes of 10,000 pictures
    /// (5 MB) do not fit a cache.
    pub fn close_pairs(&self, threshold: f32, mut found: impl FnMut(usize, usize)) {
        let (d, n) = (self.dim, self.scales.len());
        for start in (0..n).step_by(PAIR_BLOCK) {
            let end = (start + PAIR_BLOCK).min(n);
            let queries: Vec<Vec<i16>> = (start..end)
                .map(|i| self.values[i * d..(i + 1) * d].iter().map(|&c| c as i16).collect())
                .collect();
            for (j, row) in self.values.chunks_exact(d).enumerate().skip(start + 1) {
                for (i, q) in (start..end.min(j)).zip(&queries) {
                    let cosine = dot_i16(row, q) as f32 * (self.scales[i] * self.scales[j]);
                    if cosine >= threshold {
                        found(i, j);
                    }
                }
            }
        }
    }
}

/// `query` as 16-bit integers and their scale. The largest magnitude is what
/// keeps `dim` products of 127 × it within an i32: 32,767 up to 516 values, less beyond.
fn query_codes(query: &[f32]) -> (Vec<i16>, f32) {
    let max = query.iter().fold(0f32, |m, v| m.max(v.abs()));
    let top = (i32::MAX as usize / (127 * query.len().max(1))).min(i16::MAX as usize) as f32;
    if max == 0.0 || !max.is_finite() {
        return (vec![0; query.len()], 0.0);
    }
    let scale = max / top;
    (query.iter().map(|v| (v / scale).round() as i16).collect(), scale)
}

/// `Σ row[k] · query[k]` in 32-bit integers (within range: [`query_codes`]).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn dot_i16(row: &[i8], query: &[i16]) -> i32 {
    row.iter().zip(query).map(|(&r, &q)| r as i32 * q as i32).sum()
}

/// [`dot_i16`] in wasm SIMD: 16 codes widened to two i16x8, each multiplied
/// with 8 query values and summed in pairs (`i32x4.dot_i16x8_s`). What the
/// compiler made of the portable loop ran a quarter as fast in Chromium (10,000
/// pictures' near-duplicates: 21 s). A lane's sum is part of the whole one,
/// which [`query_codes`] keeps within an i32.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn dot_i16(row: &[i8], query: &[i16]) -> i32 {
    use core::arch::wasm32::*;
    let whole = row.len().min(query.len()) / 16 * 16;
    let mut sums = i32x4_splat(0);
    for k in (0..whole).step_by(16) {
        // SAFETY: k + 16 <= whole <= both lengths: 16 bytes of `row` and 16 i16s of `query`;
        // wasm loads need no alignment.
        let (r, q0, q1) = unsafe {
            (
                v128_load(row.as_ptr().add(k).cast()),
                v128_load(query.as_ptr().add(k).cast()),
                v128_load(query.as_ptr().add(k + 8).cast()),
            )
        };
        sums = i32x4_add(sums, i32x4_dot_i16x8(i16x8_extend_low_i8x16(r), q0));
        sums = i32x4_add(sums, i32x4_dot_i16x8(i16x8_extend_high_i8x16(r), q1));
    }
    let lanes = i32x4_extract_lane::<0>(sums)
        + i32x4_extract_lane::<1>(sums)
        + i32x4_extract_lane::<2>(sums)
        + i32x4_extract_lane::<3>(sums);
    let tail: i32 =
        row[whole..].iter().zip(&query[whole..]).map(|(&r, &q)| r as i32 * q as i32).sum();
    lanes + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn codes_keep_a_unit_vector_to_half_a_step() {
        let v: Vec<f32> = (0..37).map(|i| ((i * 7919 % 113) as f32 - 56.0) * 0.01).collect();
        let unit = unit_length(&v);
        let (codes, scale) = Codes::quantize(&v).unwrap();
        // The largest value maps to ±127 exactly; each is within half a step.
        assert_eq!(codes.iter().map(|c| c.unsigned_abs()).max(), Some(127));
        for (c, u) in codes.iter().zip(&unit) {
            assert!((*c as f32 * scale - u).abs() <= scale / 2.0 + 1e-7);
        }
        // A 16-bit query against a sum in f64 of the codes and the float query.
        let mut c = Codes::new(37).unwrap();
        c.push(&v).unwrap();
        let want: f64 =
            codes.iter().zip(&v).map(|(&c, &q)| c as f64 * q as f64).sum::<f64>() * scale as f64;
        let max = v.iter().fold(0f64, |m, x| m.max(x.abs() as f64));
        // Each query value is within half of max/32767; 37 of them times codes of at most 127·scale.
        let bound = 37.0 * 0.5 * max / 32767.0 * 127.0 * scale as f64;
        assert!((c.scores(&v)[0] as f64 - want).abs() <= bound, "{} vs {want}", c.scores(&v)[0]);
        c.push(&v).unwrap();
        let mut pairs = Vec::new();
        c.close_pairs(0.99, |i, j| pairs.push((i, j)));
        assert_eq!(pairs, vec![(0, 1)]);
    }

    #[test]
    fn zero_or_non_finite_embeddings_are_refused() {
        assert!(Codes::quantize(&[0.0; 4]).is_err());
        assert!(Codes::quantize(&[1.0, f32::NAN]).is_err());
        assert!(Codes::new(0).is_err() && Codes::new(MAX_DIM + 1).is_err());
    }

    /// The SIMD loop (wasm) and the portable one against f64 sums of the same
    /// codes and 16-bit query, 512 values and odd lengths (a tail after the 16s).
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn integer_dot_products_are_exact() {
        for len in [512, 16, 37, 5] {
            let row: Vec<i8> = (0..len).map(|i| ((i * 7919) % 255) as i8).collect();
            let query: Vec<i16> = (0..len).map(|i| ((i * 104_729) % 65_535) as i16).collect();
            let want: i64 = row.iter().zip(&query).map(|(&r, &q)| r as i64 * q as i64).sum();
            assert_eq!(dot_i16(&row, &query) as i64, want, "{len} values");
        }
    }

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn the_widest_query_cannot_overflow() {
        // Every code +127 against every query value at its largest, at the longest embedding.
        let mut c = Codes::new(MAX_DIM).unwrap();
        c.push(&vec![1.0; MAX_DIM]).unwrap();
        let score = c.scores(&vec![1.0; MAX_DIM])[0];
        assert!((score - MAX_DIM as f32 / (MAX_DIM as f32).sqrt()).abs() < 1e-2, "{score}");
    }

    #[test]
    fn retain_drops_whole_rows() {
        let mut c = Codes::new(2).unwrap();
        for v in [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]] {
            c.push(&v).unwrap();
        }
        c.retain(&[true, false, true]);
        assert_eq!(c.values(), &[127, 0, -127, 0]);
        assert_eq!(c.scales().len(), 2);
    }
}
