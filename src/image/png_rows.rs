//! A PNG decoded one row at a time straight into the oriented 8-bit RGB result: the whole
//! picture is never held at the file's sample width (a 13000x13000 16-bit RGB PNG is 1 GB
//! at 16 bits, 0.5 GB as the RGB result), and never turned as a second copy.
//!
//! The png crate does the file's work (chunks, inflate, unfiltering, and `EXPAND`: palettes
//! to RGB(A), bit depths under 8 scaled to 8, `tRNS` to alpha, the same transformations the
//! `image` crate asks of it), with ancillary chunks we ignore anyway left compressed: an ICC
//! profile or a zTXt/iTXt text chunk is skipped, never inflated. Each row then goes through
//! Pillow's conversion to 8 bits (`decode`'s header lists its quirks), and onto white.

use std::io::Cursor;

use image::metadata::Orientation;
use png::{BitDepth, ColorType, Transformations};

use super::composite::over_white;
use super::limits::METADATA_BUDGET;
use super::oriented::OrientedRgb;
use super::png_header::PngHeader;
use super::rgb::RgbImage;

/// Adam7's seven passes as `(x0, dx, y0, dy)`: each fills pixels `x0 + i * dx` of rows
/// `y0 + j * dy` (PNG specification, 8.2); a pass with no pixel is absent from the file.
const ADAM7: [(u32, u32, u32, u32); 7] = [
    (0, 8, 0, 8),
    (4, 8, 0, 8),
    (0, 4, 4, 8),
    (2, 4, 0, 4),
    (0, 2, 2, 4),
    (1, 2, 0, 2),
    (0, 1, 1, 2),
];

/// Decodes `bytes`, whose header (already checked against `MAX_PIXELS`) is `header`.
pub(super) fn decode(bytes: &[u8], header: &PngHeader) -> Result<RgbImage, String> {
    let fail = |e: png::DecodingError| format!("could not decode Png: {e}");
    // What the png crate may allocate besides a row: chunks it keeps (eXIf, palette).
    let limits = png::Limits { bytes: METADATA_BUDGET as usize };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_ignore_text_chunk(true);
    decoder.set_ignore_iccp_chunk(true);
    decoder.set_transformations(Transformations::EXPAND);
    let mut reader = decoder.read_info().map_err(fail)?;
    let info = reader.info();
    let (w, h, interlaced) = (info.width, info.height, info.interlaced);
    if (w, h) != (header.width, header.height) {
        return Err(format!("could not decode Png: its IHDR chunks disagree ({w}x{h})"));
    }
    // A broken EXIF block should not make an otherwise fine picture unusable.
    let orientation = info
        .exif_metadata
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let samples = Samples::new(reader.output_color_type(), header);
    let mut out = OrientedRgb::new(w, h, orientation);
    for (y, x0, dx) in rows(w, h, interlaced) {
        let row = reader.next_row().map_err(fail)?.ok_or("could not decode Png: rows missing")?;
        let row = row.data();
        let expected = (w - x0).div_ceil(dx) as usize * samples.bytes;
        if row.len() != expected {
            return Err(format!(
                "could not decode Png: a row of {} bytes, not {expected}",
                row.len()
            ));
        }
        out.put_row(y, x0, dx, row.chunks_exact(samples.bytes).map(|s| samples.rgb(s)));
    }
    Ok(out.finish())
}

/// Each row the file holds, in its order, as `(y, x0, dx)`.
fn rows(w: u32, h: u32, interlaced: bool) -> Box<dyn Iterator<Item = (u32, u32, u32)>> {
    if !interlaced {
        return Box::new((0..h).map(|y| (y, 0, 1)));
    }
    Box::new(ADAM7.into_iter().flat_map(move |(x0, dx, y0, dy)| {
        let lines = if w > x0 { h.saturating_sub(y0).div_ceil(dy) } else { 0 };
        (0..lines).map(move |j| (y0 + j * dy, x0, dx))
    }))
}

/// How one expanded pixel's samples become Pillow's 8-bit RGBA, then RGB on white.
struct Samples {
    /// Bytes a pixel: channels times 1 or 2.
    bytes: usize,
    channels: usize,
    wide: bool,
    /// Pillow mode `I;16`: clamped to 255 instead of keeping the high byte.
    gray16: bool,
    /// A `tRNS` colour key, compared after the 8-bit conversion.
    key: Option<[u8; 3]>,
}

impl Samples {
    fn new((color, depth): (ColorType, BitDepth), header: &PngHeader) -> Samples {
        let channels = match color {
            ColorType::Grayscale => 1,
            ColorType::GrayscaleAlpha => 2,
            // EXPAND has turned palettes into RGB(A).
            ColorType::Rgb | ColorType::Indexed => 3,
            ColorType::Rgba => 4,
        };
        let wide = depth == BitDepth::Sixteen;
        Samples {
            bytes: channels * if wide { 2 } else { 1 },
            channels,
            wide,
            gray16: header.is_gray16(),
            key: header.color_key(),
        }
    }

    #[inline]
    fn rgb(&self, s: &[u8]) -> [u8; 3] {
        // 8 bits of sample `i`: the high byte of a 16-bit one, except I;16's clamp for gray.
        let at = |i: usize| {
            if !self.wide {
                s[i]
            } else if self.gray16 && i == 0 {
                u16::from_be_bytes([s[0], s[1]]).min(255) as u8
            } else {
                s[2 * i]
            }
        };
        let [r, g, b, a] = match self.channels {
            1 => [at(0), at(0), at(0), 255],
            2 => [at(0), at(0), at(0), at(1)],
            3 => [at(0), at(1), at(2), 255],
            _ => [at(0), at(1), at(2), at(3)],
        };
        // Pillow's rule replaces whatever alpha the decoder derived from the key.
        let a = self.key.map_or(a, |k| if [r, g, b] == k { 0 } else { 255 });
        over_white(r, g, b, a)
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode::decode;
    use super::super::png_craft::{chunks, file, zlib_stored};
    use super::*;

    /// `bytes` (a non-interlaced PNG) written again with Adam7 interlacing: the same samples
    /// in the file's own format (palette indices, 1 bit, 16 bits), other rows.
    fn adam7(bytes: &[u8]) -> Vec<u8> {
        let mut decoder = png::Decoder::new(Cursor::new(bytes));
        decoder.set_transformations(Transformations::IDENTITY);
        let mut reader = decoder.read_info().unwrap();
        let (w, h, bpp) =
            (reader.info().width, reader.info().height, reader.info().bits_per_pixel());
        let mut rows = Vec::new();
        while let Some(row) = reader.next_row().unwrap() {
            rows.push(row.data().to_vec());
        }
        // Pixel `x` of a packed row, as bits, and its place in another.
        let get = |row: &[u8], x: usize| -> u64 {
            let (bit, mut v) = (x * bpp, 0u64);
            for i in bit..bit + bpp {
                v = v << 1 | u64::from(row[i / 8] >> (7 - i % 8) & 1);
            }
            v
        };
        let set = |row: &mut [u8], x: usize, v: u64| {
            for (k, i) in (x * bpp..x * bpp + bpp).enumerate() {
                row[i / 8] |= ((v >> (bpp - 1 - k) & 1) as u8) << (7 - i % 8);
            }
        };
        let mut raw = Vec::new();
        for (x0, dx, y0, dy) in ADAM7 {
            let xs: Vec<usize> = (x0..w).step_by(dx as usize).map(|x| x as usize).collect();
            if xs.is_empty() {
                continue;
            }
            for y in (y0..h).step_by(dy as usize) {
                let mut line = vec![0u8; (xs.len() * bpp).div_ceil(8)];
                for (i, &x) in xs.iter().enumerate() {
                    set(&mut line, i, get(&rows[y as usize], x));
                }
                raw.push(0); // filter: none
                raw.extend(line);
            }
        }
        let idat = zlib_stored(&raw);
        let mut out: Vec<(&[u8], Vec<u8>)> = Vec::new();
        for (kind, data) in chunks(bytes) {
            match &kind {
                b"IHDR" => out.push((b"IHDR", [&data[..12], &[1]].concat())),
                b"IDAT" if out.iter().any(|(k, _)| *k == b"IDAT") => {}
                b"IDAT" => out.push((b"IDAT", idat.clone())),
                _ => out.push((kind.to_vec().leak(), data.to_vec())),
            }
        }
        file(&out.iter().map(|(k, d)| (*k, &d[..])).collect::<Vec<_>>())
    }

    fn fixtures() -> impl Iterator<Item = (String, Vec<u8>)> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/images");
        std::fs::read_dir(dir).unwrap().filter_map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name()?.to_str()?.to_owned();
            name.ends_with(".png").then(|| (name, std::fs::read(&path).unwrap()))
        })
    }

    /// Every PNG fixture (each colour type and bit depth, palettes and tRNS, sizes from 1x1
    /// to odd strips), interlaced, decodes to the pixels of its non-interlaced file, which
    /// `tests/preprocess.rs` checks against Pillow; and where the `image` crate's own
    /// deinterlacing gives comparable pixels (8-bit opaque RGB), to those as well.
    #[test]
    fn interlaced_files_decode_to_the_same_pixels() {
        let mut checked = 0;
        for (name, bytes) in fixtures() {
            let flat = decode(&bytes, &name).unwrap();
            let interlaced = adam7(&bytes);
            assert_eq!(interlaced[28], 1, "{name}");
            assert_eq!(decode(&interlaced, &name).unwrap(), flat, "{name}");
            if bytes[24..26] == [8, 2] && !chunks(&bytes).iter().any(|(k, _)| k == b"tRNS") {
                let theirs = image::load_from_memory(&interlaced).unwrap().into_rgb8();
                assert_eq!(theirs.into_raw(), flat.data, "{name}, the image crate");
            }
            checked += 1;
        }
        assert!(checked >= 20, "{checked} PNG fixtures");
    }

    /// An `eXIf` chunk turns a PNG as it does a JPEG: orientation 6 is a quarter turn
    /// clockwise (checked against the `image` crate turning the decoded picture).
    #[test]
    fn a_png_exif_orientation_turns_the_picture() {
        let (name, bytes) = fixtures().find(|(n, _)| n == "coffee_rgb16.png").unwrap();
        let flat = decode(&bytes, &name).unwrap();
        // A little-endian TIFF header, one IFD entry: Orientation (0x0112), SHORT, 1, 6.
        let exif =
            [&b"II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0"[..], &[0; 4]].concat();
        let mut with: Vec<(&[u8], &[u8])> = Vec::new();
        for (kind, data) in chunks(&bytes) {
            with.push((kind.to_vec().leak(), data));
            if &kind == b"IHDR" {
                with.push((b"eXIf", &exif));
            }
        }
        let turned = decode(&file(&with), &name).unwrap();
        let buffer = image::RgbImage::from_raw(flat.width, flat.height, flat.data).unwrap();
        let want = image::imageops::rotate90(&buffer);
        assert_eq!((turned.width, turned.height), want.dimensions());
        assert_eq!(turned.data, want.into_raw());
    }
}
