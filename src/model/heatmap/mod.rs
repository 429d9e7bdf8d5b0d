//! Where in the picture a label matches: per-patch scores from ClearCLIP's
//! dense features (Lan et al., ECCV 2024: the last vision block with self-self
//! attention, no residual and no MLP, then `post_layernorm` and
//! `visual_projection` on every patch; see `encoder.rs` and
//! `docs/heatmap-methods.md`, which also records why this method and not
//! MaskCLIP or SCLIP: the pointing game on the demo model).
//!
//! For each patch and label: the cosine of the patch's features with the
//! label's text embedding (its prompts averaged, as classification does), and
//! the softmax over the labels of `exp(logit_scale) · cosine`, per patch. A
//! larger input than the model's own gives a finer grid: the position
//! embeddings are interpolated as transformers' `interpolate_pos_encoding`
//! ([`positions`]).

mod describe;
pub mod positions;

pub use describe::describe;

use crate::error::{Error, Result};
use crate::image::{self, PreprocessConfig};

use super::config::VisionConfig;
use super::scores;

/// The part of the original picture a heatmap's grid covers (the resize and
/// center crop of the preprocessing), in the picture's pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crop {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// One heatmap per label over a `rows × cols` grid of patches, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    pub labels: Vec<String>,
    pub rows: usize,
    pub cols: usize,
    /// The side of the square the picture was resized and cropped to.
    pub resolution: usize,
    /// Per label: each patch's probability among the labels.
    pub maps: Vec<Vec<f32>>,
    /// Per label: each patch's cosine with the label's text embedding.
    pub cosines: Vec<Vec<f32>>,
    pub crop: Crop,
}

impl Heatmap {
    /// What a display shows for label `l`: the probabilities over `0..1` when
    /// there are several labels; for one label, whose probability is 1
    /// everywhere, its cosines over their own range.
    pub fn shown(&self, l: usize) -> (&[f32], (f32, f32)) {
        if self.labels.len() > 1 {
            return (&self.maps[l], (0.0, 1.0));
        }
        let c = &self.cosines[l];
        let lo = c.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = c.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (c, (lo, hi))
    }

    /// [`describe`] of what [`Heatmap::shown`] shows for label `l`.
    pub fn description(&self, l: usize) -> String {
        let (values, (lo, _)) = self.shown(l);
        describe(values, (self.rows, self.cols), lo)
    }
}

/// The input side a heatmap uses: `requested` rounded to the nearest multiple of
/// the patch size, or by default twice the model's input (ViT-B/32: 448 px, a
/// 14 × 14 grid: ClearCLIP's own setting, and on the demo model's pointing game
/// the 2x grid scored 76% against 71% at 1x), at most what a dense pass holds.
pub fn resolution(v: &VisionConfig, requested: Option<usize>, max_tokens: usize) -> Result<usize> {
    let p = v.patch_size;
    let max_grid = max_grid(max_tokens);
    let grid = match requested {
        None => (2 * v.grid()).min(max_grid),
        Some(px) if px < p => {
            return Err(Error::Input(format!(
                "a heatmap resolution of {px} px is smaller than one {p}-px patch of this model"
            )))
        }
        Some(px) => (px + p / 2) / p,
    };
    if grid > max_grid {
        return Err(Error::Input(format!(
            "a heatmap resolution of {} px is more than this model's largest, {} px (a {max_grid}x{max_grid} grid of {p}-px patches)",
            requested.unwrap_or(grid * p),
            max_grid * p
        )));
    }
    Ok(grid * p)
}

/// The side of the largest square grid whose patches and class token fit
/// `max_tokens` (at least 1).
pub fn max_grid(max_tokens: usize) -> usize {
    (1..).take_while(|g| g * g < max_tokens).last().unwrap_or(1)
}

/// The preprocessing of `base` (the model's) for a `size × size` input.
pub fn preprocess_at(base: &PreprocessConfig, size: usize) -> PreprocessConfig {
    base.with_input_size(size as u32)
}

/// Which part of a `width × height` picture `cfg`'s resize and center crop keep.
pub fn crop(width: u32, height: u32, cfg: &PreprocessConfig) -> Crop {
    let image::CropGeometry { resized: (rw, rh), output: (ow, oh), left, top } =
        image::crop_geometry(width, height, cfg);
    let (sx, sy) = (f64::from(width) / f64::from(rw), f64::from(height) / f64::from(rh));
    let (x, y) = (left as f64 * sx, top as f64 * sy);
    Crop { x, y, width: f64::from(ow) * sx, height: f64::from(oh) * sy }
}

/// Per-label maps from a dense pass's output (`tokens × dim`, class token
/// first) and the labels' unit prompt embeddings (`per_label` prompts each).
pub fn maps(
    dense: &[f32],
    dim: usize,
    prompts: &[Vec<f32>],
    per_label: usize,
    logit_scale: f32,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let labels = prompts.len() / per_label.max(1);
    let mut maps = vec![Vec::new(); labels];
    let mut cosines = vec![Vec::new(); labels];
    for patch in dense.chunks(dim).skip(1) {
        let unit = scores::unit_length(patch);
        let scoring = scores::Scoring::Softmax { logit_scale };
        let answer = scores::zero_shot(&unit, prompts, per_label, scoring);
        for (l, (c, p)) in answer.cosines.iter().zip(&answer.probabilities).enumerate() {
            cosines[l].push(*c as f32);
            maps[l].push(*p as f32);
        }
    }
    (maps, cosines)
}

#[cfg(test)]
mod tests {
    use super::{crop, preprocess_at, resolution};
    use crate::image::PreprocessConfig;
    use crate::model::ClipConfig;

    #[test]
    fn resolutions_round_to_patches_within_the_dense_pass() {
        let v = ClipConfig::from_json("{}").unwrap().vision; // 224 px, 32-px patches
        assert_eq!(resolution(&v, None, 400).unwrap(), 448);
        assert_eq!(resolution(&v, None, 100).unwrap(), 9 * 32); // 9² + 1 = 82 ≤ 100
        assert_eq!(resolution(&v, Some(300), 400).unwrap(), 288); // 9.4 patches
        assert_eq!(resolution(&v, Some(304), 400).unwrap(), 320);
        let big = resolution(&v, Some(1000), 400).unwrap_err().to_string();
        assert!(
            big.contains("1000 px is more than this model's largest, 608 px (a 19x19 grid"),
            "{big}"
        );
        let small = resolution(&v, Some(20), 400).unwrap_err().to_string();
        assert!(small.contains("smaller than one 32-px patch"), "{small}");
    }

    #[test]
    fn the_crop_is_the_center_square_in_the_pictures_pixels() {
        let cfg = preprocess_at(&PreprocessConfig::clip_default(224), 448);
        // 800 x 600 → 597 x 448 (448 · 800 / 600 = 597.3), crop from x = (597 - 448) // 2 = 74.
        let c = crop(800, 600, &cfg);
        let s = 800.0 / 597.0;
        assert!((c.x - 74.0 * s).abs() < 1e-9 && c.y == 0.0, "{c:?}");
        assert!((c.width - 448.0 * s).abs() < 1e-9 && (c.height - 600.0).abs() < 1e-9, "{c:?}");
    }
}
