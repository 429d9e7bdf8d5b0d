//! CLIP and SigLIP image preprocessing in pure Rust, matching transformers'
//! `CLIPImageProcessor` and `SiglipImageProcessor` on their Pillow path byte for byte (no GPU
//! here).
//!
//! The pipeline, in transformers' order:
//! 1. [`decode`] (or [`from_rgba`] for browser `ImageData`): to RGB8, transparency
//!    composited onto white the way transformers 5 + Pillow do it.
//! 2. Resize ([`ResizeTo`]): CLIP makes the shorter side `shortest_edge`, the longer side
//!    `int(shortest_edge * long / short)` (truncated); SigLIP resizes to exactly
//!    `height` x `width`. Pillow bicubic or bilinear on uint8: [`resize`].
//! 3. Center crop to `crop_height` x `crop_width` (CLIP; SigLIP has none), offsets
//!    `(size - crop) // 2` (floor), padding with zeros where the picture is smaller.
//! 4. Rescale: `f32(f64(v) * rescale_factor)`; normalise: `(x - mean) / std` in f32;
//!    channels first.
//!
//! Steps 2 and 3 are fused: only the part of the resized picture that survives the crop is
//! computed (see [`resize`] for why that is exact).
//!
//! The files: `decode` (format sniffing and Pillow's per-mode conversion to RGB), with
//! `png_rows` (a PNG a row at a time into 8-bit RGB), `png_header` (what the PNG header says
//! before the decoder expands it), `gif_frame` (a GIF's first frame on Pillow's canvas) and
//! `oriented` (the RGB result, written where the EXIF orientation puts each pixel); `limits` (decompression-bomb size and decoder
//! memory budgets); `composite` (transparency onto white); `resize`; `config` (the
//! preprocessor JSON); `rgb` (the picture type). `heatmap_layer` goes the other way: a
//! heatmap grid as colours to lay over a picture.
//!
//! Expected outputs come from `tools/make_preprocess_fixtures.py`; `tests/preprocess.rs`
//! compares against them.

mod composite;
mod config;
mod decode;
mod gif_frame;
pub mod heatmap_layer;
mod limits;
mod oriented;
#[cfg(test)]
mod png_craft;
mod png_header;
mod png_rows;
pub mod resize;
mod rgb;

pub use composite::from_rgba;
pub use config::{
    PreprocessConfig, ResizeTo, IMAGENET_STANDARD_MEAN, IMAGENET_STANDARD_STD, OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
};
pub use decode::{decode, header_size, jpeg_size};
pub use resize::Resample;
pub use rgb::RgbImage;

/// transformers' `get_resize_output_image_size(..., default_to_square=False)`:
/// `(width, height)` with the shorter side at `shortest_edge`.
pub fn resized_size(width: u32, height: u32, shortest_edge: u32) -> (u32, u32) {
    let (short, long) = if width <= height { (width, height) } else { (height, width) };
    // Python computes `int(size * long / short)`: an exact product, a correctly rounded
    // division, truncation. f64 does the same for every size that fits in u32.
    let new_long = (f64::from(shortest_edge) * f64::from(long) / f64::from(short)) as u32;
    if width <= height {
        (shortest_edge, new_long)
    } else {
        (new_long, shortest_edge)
    }
}

/// `(width, height)` of a `width` x `height` picture after `cfg`'s resize (its own size
/// without one).
fn resize_target(width: u32, height: u32, cfg: &PreprocessConfig) -> (u32, u32) {
    match (cfg.do_resize, cfg.resize_to) {
        (false, _) => (width, height),
        (true, ResizeTo::ShortestEdge) => resized_size(width, height, cfg.shortest_edge),
        (true, ResizeTo::Exact { height, width }) => (width, height),
    }
}

/// `(width, height)` of what [`preprocess`] makes of a `width` x `height` picture.
pub fn output_size(width: u32, height: u32, cfg: &PreprocessConfig) -> (u32, u32) {
    if cfg.do_center_crop {
        (cfg.crop_width, cfg.crop_height)
    } else {
        resize_target(width, height, cfg)
    }
}

/// Where [`preprocess`]'s resize and center crop put a `width x height` picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropGeometry {
    /// `(width, height)` after the resize (the picture's own without one).
    pub resized: (u32, u32),
    /// `(width, height)` of the output ([`output_size`]).
    pub output: (u32, u32),
    /// The crop's origin in resized coordinates; negative when the crop is larger (padding).
    pub left: i64,
    pub top: i64,
}

pub fn crop_geometry(width: u32, height: u32, cfg: &PreprocessConfig) -> CropGeometry {
    let (rw, rh) = resize_target(width, height, cfg);
    let (ow, oh) = output_size(width, height, cfg);
    CropGeometry {
        resized: (rw, rh),
        output: (ow, oh),
        left: (i64::from(rw) - i64::from(ow)).div_euclid(2),
        top: (i64::from(rh) - i64::from(oh)).div_euclid(2),
    }
}

/// `image -> pixel_values` for one picture: CHW f32, `3 x crop_height x crop_width`
/// (or the resized size when `do_center_crop` is false: [`output_size`]).
///
/// # Panics
/// If `img` is malformed (zero-sized, or `data.len() != width * height * 3`); [`decode`]
/// and [`from_rgba`] never return such an image.
pub fn preprocess(img: &RgbImage, cfg: &PreprocessConfig) -> Vec<f32> {
    assert!(
        img.width > 0
            && img.height > 0
            && img.data.len() == img.width as usize * img.height as usize * 3,
        "malformed RgbImage {}x{} with {} bytes",
        img.width,
        img.height,
        img.data.len()
    );
    let CropGeometry { resized: (rw, rh), output: (ow, oh), left, top } =
        crop_geometry(img.width, img.height, cfg);
    // The part of the resized picture that lands inside the crop.
    let xs = left.max(0) as u32..(left + i64::from(ow)).min(i64::from(rw)) as u32;
    let ys = top.max(0) as u32..(top + i64::from(oh)).min(i64::from(rh)) as u32;

    // Without a size change both passes are skipped: a plain copy, as in Pillow.
    let window = resize::resize_window(img, rw, rh, xs.clone(), ys.clone(), cfg.resample);
    // Where the window sits inside the output (non-zero only when padding).
    let (dx, dy) = ((i64::from(xs.start) - left) as usize, (i64::from(ys.start) - top) as usize);

    let plane = ow as usize * oh as usize;
    let mut out = vec![0f32; 3 * plane];
    let value = channel_maps(cfg);
    for c in 0..3 {
        let dst = &mut out[c * plane..(c + 1) * plane];
        dst.fill(value[c][0]); // padding is uint8 zero before rescale/normalise
        for y in 0..window.height as usize {
            let row =
                &window.data[y * window.width as usize * 3..(y + 1) * window.width as usize * 3];
            let o = (y + dy) * ow as usize + dx;
            for (x, px) in row.chunks_exact(3).enumerate() {
                dst[o + x] = value[c][px[c] as usize];
            }
        }
    }
    out
}

/// For each channel, the final f32 of each of the 256 possible uint8 values, computed with
/// transformers' exact arithmetic: `astype(float64) * scale`, `astype(float32)`, then
/// `(x - mean) / std` in float32.
fn channel_maps(cfg: &PreprocessConfig) -> [[f32; 256]; 3] {
    // The config holds an f32; every CLIP file says 1/255 (as a Python float, i.e. f64), so
    // recover that exact f64 rather than widening the f32 (which can move results by 1 ulp).
    let scale = if cfg.rescale_factor == (1.0f64 / 255.0) as f32 {
        1.0 / 255.0
    } else {
        f64::from(cfg.rescale_factor)
    };
    let mut maps = [[0f32; 256]; 3];
    for (c, map) in maps.iter_mut().enumerate() {
        for (v, m) in map.iter_mut().enumerate() {
            let mut x = if cfg.do_rescale { (v as f64 * scale) as f32 } else { v as f32 };
            if cfg.do_normalize {
                x = (x - cfg.image_mean[c]) / cfg.image_std[c];
            }
            *m = x;
        }
    }
    maps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resized_size_truncates_like_python() {
        assert_eq!(resized_size(451, 300, 224), (336, 224)); // 224 * 451 / 300 = 336.75
        assert_eq!(resized_size(300, 451, 224), (224, 336));
        assert_eq!(resized_size(512, 512, 224), (224, 224));
        assert_eq!(resized_size(7, 3, 224), (522, 224)); // 522.67
        assert_eq!(resized_size(1, 100_000, 224), (224, 22_400_000));
    }

    #[test]
    fn crop_pads_with_normalised_zero_and_centres_like_numpy() {
        // 2x1 image, no resize, 5x3 crop: left = (2 - 5) // 2 = -2, top = (1 - 3) // 2 = -1.
        let img = RgbImage { width: 2, height: 1, data: vec![255, 0, 0, 0, 255, 0] };
        let cfg = PreprocessConfig {
            do_resize: false,
            crop_width: 5,
            crop_height: 3,
            do_normalize: false,
            ..PreprocessConfig::clip_default(4)
        };
        let out = preprocess(&img, &cfg);
        let red: Vec<f32> = out[..15].to_vec();
        let mut want = vec![0f32; 15];
        want[5 + 2] = 1.0; // row 1, column 2
        assert_eq!(red, want);
        assert_eq!(out[15 + 5 + 3], 1.0); // green of the second pixel
    }

    /// SigLIP: exact size, aspect ratio not kept, no crop, whatever the picture's shape.
    #[test]
    fn exact_resize_ignores_aspect_ratio() {
        let cfg = PreprocessConfig::siglip_default(4);
        for (w, h) in [(451, 300), (3, 7), (4, 4), (1, 1000)] {
            let g = crop_geometry(w, h, &cfg);
            assert_eq!((g.resized, g.output, g.left, g.top), ((4, 4), (4, 4), 0, 0), "{w}x{h}");
        }
        let tall = PreprocessConfig {
            resize_to: ResizeTo::Exact { height: 48, width: 32 },
            ..PreprocessConfig::siglip_default(224)
        };
        assert_eq!(output_size(61, 37, &tall), (32, 48));
        assert_eq!(output_size(61, 37, &PreprocessConfig { do_resize: false, ..tall }), (61, 37));
        // Exact resize then center crop (a CLIP file with {"height", "width"}).
        let both = PreprocessConfig {
            resize_to: ResizeTo::Exact { height: 10, width: 20 },
            crop_height: 4,
            crop_width: 6,
            ..PreprocessConfig::clip_default(8)
        };
        let g = crop_geometry(100, 100, &both);
        assert_eq!((g.resized, g.output, g.left, g.top), ((20, 10), (6, 4), 7, 3));
    }

    /// The filter reaches the resize: a 2x1 picture doubled gives Pillow's bilinear and
    /// bicubic values ([10, 30, 70, 90] and [3, 27, 73, 97]).
    #[test]
    fn resample_selects_the_filter() {
        let img = RgbImage { width: 2, height: 1, data: vec![10, 10, 10, 90, 90, 90] };
        let mut cfg = PreprocessConfig {
            resize_to: ResizeTo::Exact { height: 1, width: 4 },
            do_rescale: false,
            do_normalize: false,
            ..PreprocessConfig::siglip_default(224)
        };
        assert_eq!(preprocess(&img, &cfg)[..4], [3.0, 27.0, 73.0, 97.0]);
        cfg.resample = Resample::Bilinear;
        assert_eq!(preprocess(&img, &cfg)[..4], [10.0, 30.0, 70.0, 90.0]);
    }

    #[test]
    fn normalisation_is_float32_exact() {
        let cfg = PreprocessConfig::clip_default(1);
        let img = RgbImage { width: 1, height: 1, data: vec![0, 128, 255] };
        let out = preprocess(&img, &cfg);
        let want =
            |v: f64, c: usize| ((v / 255.0) as f32 - OPENAI_CLIP_MEAN[c]) / OPENAI_CLIP_STD[c];
        assert_eq!(out, vec![want(0.0, 0), want(128.0, 1), want(255.0, 2)]);
    }
}
