//! The first frame of a GIF as Pillow's `GifImagePlugin` opens it (transformers reads frame 0
//! of an animation and nothing else), decoded with the `gif` crate.
//!
//! Pillow's rules, checked by `tools/make_preprocess_fixtures.py` (`gif_offset*`,
//! `gif_overflow`, `gif_no_palette`). The `image` crate differs on the first two: it leaves
//! everything outside the first frame transparent black and crops a frame to the screen.
//! - The picture is the logical screen, grown to hold the first frame if that frame reaches
//!   past it; the decompression-bomb limit applies to that grown size.
//! - Outside the first frame a pixel holds the frame's transparent index if it has one (so
//!   it turns white once transformers composites), otherwise index 0. The screen's
//!   background colour is never used.
//! - Colours come from the frame's local table, else the global one; an index past the end
//!   of the table is black.
//! - A table that is the gray ramp (entry i = (i, i, i)), or no table at all, makes Pillow
//!   open the picture as mode `L`: a pixel's gray is its index.
//! - The transparent index is the one in the graphic control extension before the frame.

use std::borrow::Cow;
use std::io::Cursor;
use std::num::NonZeroU64;

use super::composite::over_white;
use super::limits::{alloc_budget, check_size, METADATA_BUDGET};
use super::rgb::RgbImage;

fn fail(e: gif::DecodingError) -> String {
    format!("could not decode Gif: {e}")
}

/// The gif crate refuses a frame without a colour table, which Pillow reads as grayscale
/// (gray = index): a gray-ramp global table gives exactly that.
fn with_color_table(bytes: &[u8]) -> Cow<'_, [u8]> {
    if bytes.len() >= 13 && bytes[10] & 0x80 == 0 {
        Cow::Owned(
            [
                &bytes[..10],
                &[bytes[10] & 0x70 | 0x87],
                &bytes[11..13],
                &(0..=255u8).flat_map(|i| [i; 3]).collect::<Vec<_>>(),
                &bytes[13..],
            ]
            .concat(),
        )
    } else {
        Cow::Borrowed(bytes)
    }
}

/// The picture's size as Pillow sees it (the logical screen, grown to hold the first
/// frame) and that frame's offset, from the headers only (room for metadata such as
/// ICC and XMP, not for pixels).
fn canvas(bytes: &[u8]) -> Result<((u32, u32), u32, u32), String> {
    let mut dec = open(bytes, METADATA_BUDGET).map_err(fail)?;
    let screen = (u32::from(dec.width()), u32::from(dec.height()));
    let f = dec.next_frame_info().map_err(fail)?.ok_or("could not decode Gif: it has no frame")?;
    let (left, top) = (u32::from(f.left), u32::from(f.top));
    Ok((
        (screen.0.max(left + u32::from(f.width)), screen.1.max(top + u32::from(f.height))),
        left,
        top,
    ))
}

/// [`canvas`]'s size, checked as [`decode`] checks it before any pixel.
pub(super) fn size(bytes: &[u8]) -> Result<(u32, u32), String> {
    let (size, _, _) = canvas(&with_color_table(bytes))?;
    check_size(size.0, size.1)?;
    Ok(size)
}

/// Decodes the first frame, composited onto white.
pub(super) fn decode(bytes: &[u8]) -> Result<RgbImage, String> {
    let bytes = &*with_color_table(bytes);
    let (canvas, left, top) = canvas(bytes)?;
    check_size(canvas.0, canvas.1)?;

    let mut dec = open(bytes, alloc_budget(canvas.0, canvas.1)).map_err(fail)?;
    let frame =
        dec.next_frame_info().map_err(fail)?.ok_or("could not decode Gif: it has no frame")?;
    let (fw, fh, transparent) = (frame.width as usize, frame.height as usize, frame.transparent);
    let table = match &frame.palette {
        Some(local) => local.clone(),
        None => dec.global_palette().unwrap_or_default().to_vec(),
    };
    let mut pixels = vec![0u8; fw * fh];
    dec.read_into_buffer(&mut pixels).map_err(fail)?;

    let colour = colours(&table, transparent);
    let (cw, ch) = (canvas.0 as usize, canvas.1 as usize);
    let outside = colour[usize::from(transparent.unwrap_or(0))];
    let mut data = Vec::with_capacity(cw * ch * 3);
    for y in 0..ch {
        for x in 0..cw {
            let (fx, fy) = (x.wrapping_sub(left as usize), y.wrapping_sub(top as usize));
            let rgb = if fx < fw && fy < fh {
                colour[usize::from(pixels[fy * fw + fx])]
            } else {
                outside
            };
            data.extend_from_slice(&rgb);
        }
    }
    Ok(RgbImage { width: canvas.0, height: canvas.1, data })
}

fn open(bytes: &[u8], budget: u64) -> Result<gif::Decoder<Cursor<&[u8]>>, gif::DecodingError> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    // `gif` counts the frame buffer and the metadata it keeps against this limit.
    options.set_memory_limit(
        NonZeroU64::new(budget).map_or(gif::MemoryLimit::Unlimited, gif::MemoryLimit::Bytes),
    );
    options.read_info(Cursor::new(bytes))
}

/// The RGB each of the 256 indices ends up as, after Pillow's conversion and the white
/// composite.
fn colours(table: &[u8], transparent: Option<u8>) -> [[u8; 3]; 256] {
    // Pillow's `_is_palette_needed`: a gray ramp is no palette (mode L).
    let gray =
        table.chunks_exact(3).enumerate().all(|(i, c)| c.iter().all(|&v| usize::from(v) == i));
    let mut out = [[0u8; 3]; 256];
    for (i, rgb) in out.iter_mut().enumerate() {
        *rgb = if gray {
            [i as u8; 3]
        } else {
            table.get(3 * i..3 * i + 3).map_or([0; 3], |c| [c[0], c[1], c[2]])
        };
        if transparent == Some(i as u8) {
            *rgb = over_white(rgb[0], rgb[1], rgb[2], 0);
        }
    }
    out
}
