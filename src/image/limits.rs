//! Decode limits: how large a picture may be, and how much memory a decoder may take for it.
//!
//! A header claiming more than [`MAX_PIXELS`] is refused before any pixel is decoded
//! ([`check_size`]), and each decoder may allocate no more than [`alloc_budget`] of the size
//! its header gives, so a small file cannot make it reserve gigabytes. `decode` and
//! `gif_frame` both apply them.

use image::Limits;

/// The most pixels a picture may have: where Pillow raises `DecompressionBombError`
/// (twice `Image.MAX_IMAGE_PIXELS`); below it Pillow only warns.
pub const MAX_PIXELS: u64 = 2 * 89_478_485;

/// What a decoder may allocate beyond a picture's pixels, for its metadata (ICC profiles,
/// EXIF, PNG text): Pillow's `PngImagePlugin.MAX_TEXT_MEMORY`.
pub(super) const METADATA_BUDGET: u64 = 64 << 20;

/// The most a decoder may allocate for a `width` x `height` picture: its pixels at the
/// widest sample format any decoder gives (16-bit RGBA, 8 bytes) plus [`METADATA_BUDGET`].
/// Handed to the decoders as `image::Limits::max_alloc` (the `gif` crate's memory limit),
/// so a few bytes of header cannot make them allocate more than the picture needs.
pub(super) fn alloc_budget(width: u32, height: u32) -> u64 {
    u64::from(width) * u64::from(height) * 8 + METADATA_BUDGET
}

/// The `image` crate's limits with only `max_alloc` set, to `bytes`.
pub(super) fn max_alloc(bytes: u64) -> Limits {
    let mut limits = Limits::no_limits();
    limits.max_alloc = Some(bytes);
    limits
}

/// Refuses a picture with no pixels, or more than [`MAX_PIXELS`], from its header alone.
pub(super) fn check_size(w: u32, h: u32) -> std::result::Result<(), String> {
    let pixels = u64::from(w) * u64::from(h);
    if pixels == 0 {
        Err(format!("has no pixels ({w}x{h})"))
    } else if pixels > MAX_PIXELS {
        Err(format!("is {w}x{h} = {pixels} pixels, more than the {MAX_PIXELS} allowed (where Pillow refuses a decompression bomb)"))
    } else {
        Ok(())
    }
}
