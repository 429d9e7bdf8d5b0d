//! Embeddings as int8 codes with one f32 scale per picture: a unit vector's
//! value `x` is stored as `round(x / scale)` with `scale = max|x| / 127`, so
//! each row uses the whole int8 range. 512 values take 516 bytes instead of
//! 2048; what ranking loses by it is measured in `tests/search.rs` and
//! `docs/search-index.md`.
//!
//! Ranking is a matrix-vector product of the codes with an f32 query: the
//! inner loop runs eight independent lanes so the compiler vectorises it
//! (wasm `simd128`, SSE/AVX natively) without an ordered float sum.

use crate::error::{Error, Result};
use crate::model::scores::unit_length;

/// Longest embedding accepted: every CLIP and SigLIP projection we know of is at most 1,280.
pub const MAX_DIM: usize = 4096;

const LANES: usize = 8;

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
        self.values
            .chunks_exact(self.dim)
            .zip(&self.scales)
            .map(|(row, &scale)| dot(row, query) * scale)
            .collect()
    }
}

/// `Σ row[k] · query[k]` in eight lanes (vectorised), then the remainder.
fn lane_dot<T: Copy + Into<f32>>(row: &[T], query: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let (rows, rest) = row.split_at(row.len() - row.len() % LANES);
    for (r, q) in rows.chunks_exact(LANES).zip(query.chunks_exact(LANES)) {
        for l in 0..LANES {
            lanes[l] += r[l].into() * q[l];
        }
    }
    let tail: f32 = rest.iter().zip(&query[rows.len()..]).map(|(&r, &q)| r.into() * q).sum();
    lanes.iter().sum::<f32>() + tail
}

/// A row of codes against a float query.
pub fn dot(row: &[i8], query: &[f32]) -> f32 {
    lane_dot(row, query)
}

/// Two float rows.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    lane_dot(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_keep_a_unit_vector_to_half_a_step() {
        let v: Vec<f32> = (0..37).map(|i| ((i * 7919 % 113) as f32 - 56.0) * 0.01).collect();
        let unit = unit_length(&v);
        let (codes, scale) = Codes::quantize(&v).unwrap();
        // The largest value maps to ±127 exactly; each is within half a step.
        assert_eq!(codes.iter().map(|c| c.unsigned_abs()).max(), Some(127));
        for (c, u) in codes.iter().zip(&unit) {
            assert!((*c as f32 * scale - u).abs() <= scale / 2.0 + 1e-7);
        }
        // dot over 37 values (4 lanes of 8 and a tail of 5) against a sum in f64.
        let want: f64 = codes.iter().zip(&v).map(|(&c, &q)| c as f64 * q as f64).sum();
        assert!((dot(&codes, &v) as f64 - want).abs() < 1e-4, "{} vs {want}", dot(&codes, &v));
    }

    #[test]
    fn zero_or_non_finite_embeddings_are_refused() {
        assert!(Codes::quantize(&[0.0; 4]).is_err());
        assert!(Codes::quantize(&[1.0, f32::NAN]).is_err());
        assert!(Codes::new(0).is_err() && Codes::new(MAX_DIM + 1).is_err());
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
