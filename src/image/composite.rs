//! Transparency onto white: Pillow's `alpha_composite` over an opaque white background, the
//! way transformers' `convert_to_rgb` drops alpha. Every decoder's pixels and the browser's
//! `ImageData` go through [`over_white`].

use super::rgb::RgbImage;
use crate::error::{Error, Result};

/// Browser `ImageData` (straight, not premultiplied, RGBA8) -> RGB, compositing onto white
/// with the same arithmetic as [`decode`](fn@super::decode).
pub fn from_rgba(width: u32, height: u32, rgba: &[u8], name: &str) -> Result<RgbImage> {
    if width == 0 || height == 0 {
        return Err(Error::image(name, format!("has no pixels ({width}x{height})")));
    }
    let expected = width as u64 * height as u64 * 4;
    if rgba.len() as u64 != expected {
        return Err(Error::image(
            name,
            format!("{width}x{height} RGBA needs {expected} bytes, got {}", rgba.len()),
        ));
    }
    let data = rgba.chunks_exact(4).flat_map(|p| over_white(p[0], p[1], p[2], p[3])).collect();
    Ok(RgbImage { width, height, data })
}

/// Pillow's `alpha_composite(white, src)` for one pixel, then dropping alpha.
///
/// This is `libImaging/AlphaComposite.c` with an opaque white destination: 7 extra bits of
/// precision and a rounded division by 255 done with shifts. Fully transparent pixels take
/// the destination (white) whatever colour they carry; opaque pixels come out unchanged.
#[inline]
pub(crate) fn over_white(r: u8, g: u8, b: u8, a: u8) -> [u8; 3] {
    const BITS: u32 = 7;
    const DST: u32 = 255; // colour and alpha of the white background
    if a == 0 {
        return [255; 3];
    }
    let a = u32::from(a);
    let blend = DST * (255 - a);
    let outa255 = a * 255 + blend;
    let coef1 = a * 255 * 255 * (1 << BITS) / outa255;
    let coef2 = 255 * (1 << BITS) - coef1;
    let mix = |c: u8| {
        let t = u32::from(c) * coef1 + DST * coef2 + (0x80 << BITS);
        (((t >> 8) + t) >> 8 >> BITS) as u8
    };
    [mix(r), mix(g), mix(b)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_is_identity_and_transparent_is_white() {
        for v in 0..=255u8 {
            assert_eq!(over_white(v, 255 - v, v / 3, 255), [v, 255 - v, v / 3]);
            assert_eq!(over_white(v, 255 - v, v / 3, 0), [255; 3]);
        }
    }

    #[test]
    fn half_alpha_blends_towards_white() {
        // coef1 = 128 * 128 = 16384: 0 * 16384 + 255 * 16256 + 16384 -> 127.
        assert_eq!(over_white(0, 0, 0, 128), [127; 3]);
        assert_eq!(over_white(255, 255, 255, 128), [255; 3]);
    }

    #[test]
    fn from_rgba_checks_its_input() {
        assert!(from_rgba(0, 3, &[], "x").is_err());
        let err = from_rgba(2, 2, &[0; 15], "frame").unwrap_err().to_string();
        assert!(err.contains("frame") && err.contains("16 bytes"), "{err}");
        let ok = from_rgba(2, 1, &[10, 20, 30, 255, 1, 2, 3, 0], "x").unwrap();
        assert_eq!(ok.data, vec![10, 20, 30, 255, 255, 255]);
    }
}
