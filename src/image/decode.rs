//! Bytes -> packed RGB8, converting every pixel format the way Pillow + transformers 5 do.
//!
//! transformers' `convert_to_rgb` looks at the PIL image: if it has an alpha band or a
//! `transparency` entry it converts to RGBA and alpha-composites onto opaque white,
//! otherwise it converts straight to RGB. Pillow decides what "RGBA" and "RGB" mean per
//! source mode, with a few quirks that this module copies on purpose (checked against
//! Pillow 13 by `tools/make_preprocess_fixtures.py`):
//! - 16-bit RGB(A) and gray+alpha PNGs keep the high byte of each sample;
//! - a 16-bit grayscale PNG (Pillow mode `I;16`) is *clamped* to 255, not scaled, so most
//!   of such a picture turns white;
//! - a colour-key `tRNS` is compared after that 8-bit conversion, against the key's low
//!   byte (`rgbT2rgba` masks with `& 0xff`); for 2- and 4-bit grayscale Pillow compares the
//!   *scaled* gray value with the *unscaled* key, so only key 0 ever matches;
//! - palette transparency (one index or per-index alpha) becomes the pixel's alpha;
//! - a GIF's first frame follows Pillow's own canvas rules: see `gif_frame`;
//! - every 4-channel JPEG (Adobe CMYK, YCCK, or no APP14 marker at all) is read with
//!   Adobe's inverted polarity (`rawmode "CMYK;I"`; libjpeg first turns YCCK into that
//!   CMYK), and `convert("RGB")` does, per channel, `nk = 255 - K; R = nk - MULDIV255(C, nk)`
//!   with `MULDIV255(a, b) = (t = a*b + 128, ((t >> 8) + t) >> 8)`, i.e. round(a*b/255).
//!   On the file's samples (c = 255 - C, k = 255 - K) that is exactly `round(c * k / 255)`,
//!   which zune-jpeg computes (for YCCK on 255 - its YCbCr->RGB): see the test below.
//! - ICC profiles are ignored: Pillow + transformers do no colour management, the pixels
//!   are the file's numbers whatever the profile says (the fixture script checks this with
//!   an Adobe RGB profile); the `image` crate applies none either.
//!
//! The `image` crate decodes the pixels (zune-jpeg for JPEG, so JPEG pixels differ from
//! libjpeg-turbo's by a little; see the tests), except PNG's: `png_rows` reads those a row
//! at a time with the png crate, and takes the colour type and `tRNS` from the file header
//! (`png_header`) because the crate has already expanded them by the time we see the pixels.
//! EXIF orientation is applied, as transformers' `load_image` and browsers do, as the
//! pixels are written (`oriented`). The white composite itself is `composite`.
//!
//! Memory: a header claiming more than [`MAX_PIXELS`](limits::MAX_PIXELS) is refused before
//! any pixel is decoded, and each decoder may allocate no more than [`alloc_budget`] of the
//! size its header gives, so a small file cannot make it reserve gigabytes (see `limits`).
//! At the peak a picture costs its RGB result (3 bytes a pixel) plus, for the formats the
//! `image` crate decodes, its decoded pixels (at most 4 bytes a pixel: 8-bit RGBA); a PNG
//! costs the result and a row, whatever its bit depth.

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use super::composite::over_white;
use super::gif_frame;
use super::limits::{self, alloc_budget, check_size, METADATA_BUDGET};
use super::oriented::OrientedRgb;
use super::png_header::PngHeader;
use super::png_rows;
use super::rgb::RgbImage;
use crate::error::{Error, Result};

/// Decodes PNG, JPEG, WebP, GIF (first frame) or BMP bytes into RGB, compositing any
/// transparency onto white exactly as transformers' `CLIPImageProcessor` does with Pillow.
/// `name` is only used in error messages.
pub fn decode(bytes: &[u8], name: &str) -> Result<RgbImage> {
    let (mut reader, format) = open(bytes, name)?;
    let invalid = |m: String| Error::image(name, m);
    match format {
        ImageFormat::Gif => return gif_frame::decode(bytes).map_err(invalid),
        ImageFormat::Png => {
            let header = PngHeader::parse(bytes)
                .ok_or_else(|| invalid("could not decode Png: no valid IHDR header".into()))?;
            check_size(header.width, header.height).map_err(invalid)?;
            return png_rows::decode(bytes, &header).map_err(invalid);
        }
        _ => {}
    }
    reader.limits(limits::max_alloc(METADATA_BUDGET));
    let fail =
        |e: image::ImageError| Error::image(name, format!("could not decode {format:?}: {e}"));
    let mut decoder = reader.into_decoder().map_err(fail)?;
    // From the header, before a pixel is decoded: a few bytes may claim billions of pixels.
    let (w, h) = decoder.dimensions();
    check_size(w, h).map_err(invalid)?;
    decoder.set_limits(limits::max_alloc(alloc_budget(w, h))).map_err(fail)?;
    // A broken EXIF block should not make an otherwise fine picture unusable.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let img = DynamicImage::from_decoder(decoder).map_err(fail)?;
    to_rgb(img, orientation).map_err(invalid)
}

/// A reader of `bytes` and their format, when it is one we decode.
fn open<'a>(bytes: &'a [u8], name: &str) -> Result<(ImageReader<Cursor<&'a [u8]>>, ImageFormat)> {
    if bytes.is_empty() {
        return Err(Error::image(name, "the file is empty"));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::image(name, format!("could not read: {e}")))?;
    let format = match reader.format() {
        Some(
            f @ (ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::WebP
            | ImageFormat::Gif
            | ImageFormat::Bmp),
        ) => f,
        Some(other) => {
            return Err(Error::image(
                name,
                format!("{other:?} images are not supported (use PNG, JPEG, WebP, GIF or BMP)"),
            ))
        }
        None => {
            return Err(Error::image(
                name,
                format!(
                    "not a PNG, JPEG, WebP, GIF or BMP file (starts with {})",
                    hex_prefix(bytes)
                ),
            ))
        }
    };
    Ok((reader, format))
}

/// `(width, height)` from the header of PNG, JPEG, WebP, GIF or BMP bytes, after the
/// checks [`decode`] makes before any pixel is decoded (a format we decode, at least one
/// pixel, at most [`MAX_PIXELS`](limits::MAX_PIXELS)). The page asks it before the
/// browser's own decoder shows the picture: a decompression bomb is refused first.
/// Headers only: a PNG's IHDR, a GIF's screen grown to its first frame (as Pillow and
/// [`decode`] size it), the others' decoder headers under the metadata budget.
pub fn header_size(bytes: &[u8], name: &str) -> Result<(u32, u32)> {
    let (mut reader, format) = open(bytes, name)?;
    let invalid = |m: &str| Error::image(name, m);
    let (w, h) = match format {
        ImageFormat::Png => PngHeader::parse(bytes)
            .map(|p| (p.width, p.height))
            .ok_or_else(|| invalid("could not decode Png: no valid IHDR header"))?,
        ImageFormat::Gif => gif_frame::size(bytes).map_err(|m| Error::image(name, m))?,
        _ => {
            reader.limits(limits::max_alloc(METADATA_BUDGET));
            reader
                .into_decoder()
                .map_err(|e| Error::image(name, format!("could not decode {format:?}: {e}")))?
                .dimensions()
        }
    };
    check_size(w, h).map_err(|m| Error::image(name, m))?;
    Ok((w, h))
}

/// For JPEG bytes, their size after the same header checks [`decode`] makes
/// (so a decompression bomb is refused before any decoder runs); `None` for
/// any other format. The browser decodes JPEG itself where that is proven
/// bit-exact with Pillow (`www/jpeg-check.js`); this guards it.
pub fn jpeg_size(bytes: &[u8], name: &str) -> Result<Option<(u32, u32)>> {
    if image::guess_format(bytes).ok() != Some(ImageFormat::Jpeg) {
        return Ok(None);
    }
    header_size(bytes, name).map(Some)
}

/// The decoder's 8-bit pixels -> RGB on white, turned by `orientation` as it is written
/// (PNG, the one format with 16-bit samples and Pillow's per-mode quirks, is `png_rows`).
fn to_rgb(img: DynamicImage, orientation: Orientation) -> std::result::Result<RgbImage, String> {
    let (width, height) = (img.width(), img.height());
    let mut out = OrientedRgb::new(width, height, orientation);
    // Each decoded row, `channels` bytes a pixel, through `rgb`.
    let mut put = |bytes: &[u8], channels: usize, rgb: fn(&[u8]) -> [u8; 3]| {
        for (y, row) in bytes.chunks_exact(width as usize * channels).enumerate() {
            out.put_row(y as u32, 0, 1, row.chunks_exact(channels).map(rgb));
        }
    };
    match &img {
        DynamicImage::ImageLuma8(b) => put(b.as_raw(), 1, |p| [p[0]; 3]),
        DynamicImage::ImageLumaA8(b) => put(b.as_raw(), 2, |p| over_white(p[0], p[0], p[0], p[1])),
        DynamicImage::ImageRgb8(b) => put(b.as_raw(), 3, |p| [p[0], p[1], p[2]]),
        DynamicImage::ImageRgba8(b) => put(b.as_raw(), 4, |p| over_white(p[0], p[1], p[2], p[3])),
        other => return Err(format!("unsupported pixel format {:?}", other.color())),
    }
    Ok(out.finish())
}

/// The first bytes of an unrecognised file, for the error message.
fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::super::png_craft::chunk;
    use super::*;

    /// A PNG of `w`x`h` 8-bit RGB whose only data is an empty IDAT: what a crafted
    /// "decompression bomb" header looks like (68 bytes).
    fn png_claiming(w: u32, h: u32) -> Vec<u8> {
        let ihdr = [&w.to_be_bytes()[..], &h.to_be_bytes(), &[8, 2, 0, 0, 0]].concat();
        // zlib stream of nothing: header, an empty stored block, adler32 of nothing.
        let idat = [0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01];
        [
            &b"\x89PNG\r\n\x1a\n"[..],
            &chunk(b"IHDR", &ihdr),
            &chunk(b"IDAT", &idat),
            &chunk(b"IEND", &[]),
        ]
        .concat()
    }

    #[test]
    fn a_decompression_bomb_is_refused_from_its_header() {
        let bomb = png_claiming(100_000, 100_000);
        assert_eq!(bomb.len(), 68);
        let err = decode(&bomb, "bomb.png").unwrap_err().to_string();
        assert!(
            err.contains("bomb.png")
                && err.contains(
                    "100000x100000 = 10000000000 pixels, more than the 178956970 allowed"
                ),
            "{err}"
        );
        // Just over Pillow's limit (13378² = 178,970,884): refused; just under (13377²): decoded
        // as far as its (empty) data goes, so the error is another one.
        let err = decode(&png_claiming(13_378, 13_378), "over.png").unwrap_err().to_string();
        assert!(err.contains("178970884 pixels, more than"), "{err}");
        let err = decode(&png_claiming(13_377, 13_377), "under.png").unwrap_err().to_string();
        assert!(!err.contains("more than"), "{err}");
    }

    /// What the page checks before a preview is the size the decoder then gives, for every
    /// picture of the fixtures (each format, EXIF rotations, animations, odd PNGs).
    #[test]
    fn header_size_is_the_decoded_size_before_rotation() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/images");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            let Ok(img) = decode(&bytes, &name) else { continue };
            let (w, h) = header_size(&bytes, &name).unwrap();
            // EXIF orientations 5-8 swap the sides after decoding.
            assert!(
                (w, h) == (img.width, img.height) || (h, w) == (img.width, img.height),
                "{name}"
            );
            checked += 1;
        }
        assert!(checked >= 5, "{checked} pictures");
    }

    /// Headers of the other formats claiming more than MAX_PIXELS, a few dozen bytes each.
    #[test]
    fn every_format_refuses_a_bomb_from_its_header() {
        let gif = |screen: [u8; 4], frame: [u8; 8]| {
            [&b"GIF89a"[..], &screen, &[0, 0, 0], b",", &frame, &[0, 2, 0], b";"].concat()
        };
        // Pillow grows a GIF to hold its first frame, and checks the grown size.
        let gif_grow = gif([1, 0, 1, 0], [0xff; 8]);
        let gif = gif([0xff; 4], [0, 0, 0, 0, 1, 0, 1, 0]);
        // File header (size, reserved, pixel offset 54), then a BITMAPINFOHEADER: 24-bit RGB.
        let info = [
            &40u32.to_le_bytes()[..],
            &60_000u32.to_le_bytes(),
            &60_000u32.to_le_bytes(),
            &[1, 0, 24, 0],
            &[0; 24],
        ]
        .concat();
        let bmp =
            [&b"BM"[..], &94u32.to_le_bytes(), &[0; 4], &54u32.to_le_bytes(), &info, &[0; 40]]
                .concat();
        // VP8L: signature, then width - 1 and height - 1 in 14 bits each (image-webp reads
        // 16384 as 0, so 16383, the largest it can express).
        let vp8l = [&[0x2f][..], &(16_382u32 | 16_382 << 14).to_le_bytes(), &[0; 4]].concat();
        let webp = [
            &b"RIFF"[..],
            &(12 + vp8l.len() as u32).to_le_bytes(),
            b"WEBPVP8L",
            &(vp8l.len() as u32).to_le_bytes(),
            &vp8l,
        ]
        .concat();
        // SOI, a quantisation table, a 65535x65535 gray frame, a scan header, EOI.
        let jpeg = [
            &[0xff, 0xd8, 0xff, 0xdb, 0, 67, 0][..],
            &[1; 64],
            &[0xff, 0xc0, 0, 11, 8, 0xff, 0xff, 0xff, 0xff, 1, 1, 0x11, 0],
            &[0xff, 0xda, 0, 8, 1, 1, 0, 0, 0x3f, 0, 0xff, 0xd9],
        ]
        .concat();
        for (name, bytes, size) in [
            ("bomb.gif", gif, "65535x65535"),
            ("grow.gif", gif_grow, "131070x131070"),
            ("bomb.bmp", bmp, "60000x60000"),
            ("bomb.webp", webp, "16383x16383"),
            ("bomb.jpg", jpeg, "65535x65535"),
        ] {
            assert!(bytes.len() < 100, "{name}");
            let err = decode(&bytes, name).unwrap_err().to_string();
            assert!(
                err.contains(name)
                    && err.contains(&format!("is {size} = "))
                    && err.contains("more than the 178956970 allowed"),
                "{err}"
            );
            // The check the page makes before the browser shows a picture refuses the same.
            assert_eq!(header_size(&bytes, name).unwrap_err().to_string(), err, "{name}");
            // The check that guards the browser's own JPEG decoder refuses the same.
            match jpeg_size(&bytes, name) {
                Err(e) => assert_eq!(e.to_string(), err),
                Ok(size) => assert!(size.is_none() && !name.ends_with(".jpg"), "{name}: {size:?}"),
            }
        }
        let rocket =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/images/rocket.jpg"))
                .unwrap();
        let decoded = decode(&rocket, "rocket.jpg").unwrap();
        assert_eq!(
            jpeg_size(&rocket, "rocket.jpg").unwrap(),
            Some((decoded.width, decoded.height))
        );
    }

    /// Why CMYK JPEGs need no conversion of our own: zune-jpeg's `blinn_8x8(c, k)` on the
    /// file's (inverted) samples equals Pillow's `cmyk2rgb` on its uninverted ones.
    #[test]
    fn zune_cmyk_to_rgb_is_pillows_formula() {
        let muldiv255 = |a: u32, b: u32| {
            let t = a * b + 128;
            ((t >> 8) + t) >> 8
        };
        for c in 0..=255 {
            for k in 0..=255 {
                let nk = 255 - (255 - k); // Pillow: K = 255 - k
                assert_eq!(nk - muldiv255(255 - c, nk), muldiv255(c, k), "c {c} k {k}");
            }
        }
    }

    #[test]
    fn garbage_and_empty_files_name_the_image() {
        for (bytes, want) in [
            (&b""[..], "empty"),
            (&b"hello world, not an image"[..], "not a PNG"),
            (&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], "could not decode"),
            (&b"\xff\xd8\xff\xe0 truncated jpeg"[..], "could not decode"),
        ] {
            let err = decode(bytes, "cat.png").unwrap_err().to_string();
            assert!(err.contains("cat.png") && err.contains(want), "{err}");
        }
    }
}
