//! The RGB result, allocated once at its final size, that decoders write into pixel by pixel
//! at the coordinates they decode, while it puts each pixel where the EXIF orientation sends
//! it. Turning the picture afterwards (the `image` crate's `apply_orientation`) would hold a
//! second full buffer: for a MAX_PIXELS picture that is 0.5 GB more at the peak.

use image::metadata::Orientation;

use super::rgb::RgbImage;

/// A `width` x `height` picture as decoded, stored turned by an EXIF orientation.
pub(super) struct OrientedRgb {
    data: Vec<u8>,
    /// The turned picture's size.
    out: (u32, u32),
    /// Where decoded pixel (0, 0) lands, and how far (in pixels, signed) one step right and one
    /// step down in the decoded picture move in the turned one.
    origin: i64,
    step_x: i64,
    step_y: i64,
}

impl OrientedRgb {
    /// The caller has checked `width * height` against `MAX_PIXELS`: the buffer is
    /// `width * height * 3` bytes, zeroed.
    pub(super) fn new(width: u32, height: u32, orientation: Orientation) -> OrientedRgb {
        let (w, h) = (i64::from(width), i64::from(height));
        // (turned width, origin, step_x, step_y) with out index = x' + y' * turned width.
        let (ow, origin, step_x, step_y) = match orientation {
            Orientation::NoTransforms => (w, 0, 1, w),
            Orientation::FlipHorizontal => (w, w - 1, -1, w),
            Orientation::FlipVertical => (w, (h - 1) * w, 1, -w),
            Orientation::Rotate180 => (w, (h - 1) * w + w - 1, -1, -w),
            // Clockwise: (x, y) -> (h - 1 - y, x).
            Orientation::Rotate90 => (h, h - 1, h, -1),
            // (x, y) -> (y, w - 1 - x).
            Orientation::Rotate270 => (h, (w - 1) * h, -h, 1),
            // Rotate90, then mirrored: (x, y) -> (y, x).
            Orientation::Rotate90FlipH => (h, 0, h, 1),
            // Rotate270, then mirrored: (x, y) -> (h - 1 - y, w - 1 - x).
            Orientation::Rotate270FlipH => (h, (w - 1) * h + h - 1, -h, -1),
        };
        let out = if ow == w { (width, height) } else { (height, width) };
        let data = vec![0; width as usize * height as usize * 3];
        OrientedRgb { data, out, origin, step_x, step_y }
    }

    /// Writes decoded row `y`, pixels `x0, x0 + dx, ...` (an interlaced pass fills every
    /// `dx`-th one), one RGB triple per pixel.
    pub(super) fn put_row(
        &mut self,
        y: u32,
        x0: u32,
        dx: u32,
        pixels: impl Iterator<Item = [u8; 3]>,
    ) {
        let row = self.origin + i64::from(y) * self.step_y;
        let step = i64::from(dx) * self.step_x;
        let mut at = row + i64::from(x0) * self.step_x;
        for rgb in pixels {
            let i = at as usize * 3;
            self.data[i..i + 3].copy_from_slice(&rgb);
            at += step;
        }
    }

    pub(super) fn finish(self) -> RgbImage {
        RgbImage { width: self.out.0, height: self.out.1, data: self.data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, RgbImage as Buffer};

    /// Every orientation puts each pixel where the `image` crate's `apply_orientation` (which
    /// turns a whole copy, as transformers' `exif_transpose` does) puts it.
    #[test]
    fn each_orientation_matches_turning_the_whole_picture() {
        let (w, h) = (5u32, 3u32);
        let px = |x: u32, y: u32| [x as u8, y as u8, (x * 7 + y * 13) as u8];
        for exif in 1..=8 {
            let orientation = Orientation::from_exif(exif).unwrap();
            let mut want =
                DynamicImage::ImageRgb8(Buffer::from_fn(w, h, |x, y| image::Rgb(px(x, y))));
            want.apply_orientation(orientation);
            let mut got = OrientedRgb::new(w, h, orientation);
            for y in 0..h {
                got.put_row(y, 0, 1, (0..w).map(|x| px(x, y)));
            }
            let got = got.finish();
            let want = want.to_rgb8();
            assert_eq!((got.width, got.height), want.dimensions(), "orientation {exif}");
            assert_eq!(got.data, want.into_raw(), "orientation {exif}");
        }
    }

    /// Interlaced passes (every `dx`-th pixel from `x0`) land in the same places.
    #[test]
    fn strided_rows_fill_the_same_places() {
        let (w, h) = (7u32, 2u32);
        let px = |x: u32, y: u32| [x as u8, y as u8, 1];
        for exif in 1..=8 {
            let orientation = Orientation::from_exif(exif).unwrap();
            let mut whole = OrientedRgb::new(w, h, orientation);
            let mut strided = OrientedRgb::new(w, h, orientation);
            for y in 0..h {
                whole.put_row(y, 0, 1, (0..w).map(|x| px(x, y)));
                strided.put_row(y, 1, 2, (1..w).step_by(2).map(|x| px(x, y)));
                strided.put_row(y, 0, 2, (0..w).step_by(2).map(|x| px(x, y)));
            }
            assert_eq!(whole.finish(), strided.finish(), "orientation {exif}");
        }
    }
}
