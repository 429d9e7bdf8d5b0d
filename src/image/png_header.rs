//! What a PNG's header chunks say (size, bit depth, colour type, `tRNS`), read from the file
//! itself: the `image` crate has expanded palettes, low bit depths and `tRNS` by the time
//! `decode` sees the pixels, and Pillow's 8-bit conversion depends on them. The size also
//! sets the png crate's memory budget before it opens the file.

/// What the PNG header says, before the decoder expanded palette / low bit depths / tRNS.
pub(super) struct PngHeader {
    pub(super) width: u32,
    pub(super) height: u32,
    bit_depth: u8,
    color_type: u8,
    trns: Option<Vec<u8>>,
}

impl PngHeader {
    /// Walks the chunks up to the first IDAT. `None` if the file is not shaped like a PNG
    /// (the decoder has accepted it by then, so this only happens for oddities).
    pub(super) fn parse(bytes: &[u8]) -> Option<PngHeader> {
        let mut pos = 8;
        let mut header: Option<PngHeader> = None;
        while pos + 8 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().ok()?) as usize;
            let kind = &bytes[pos + 4..pos + 8];
            let data = bytes.get(pos + 8..(pos + 8).checked_add(len)?)?;
            match kind {
                b"IHDR" if data.len() >= 13 => {
                    let be = |i: usize| {
                        u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]])
                    };
                    header = Some(PngHeader {
                        width: be(0),
                        height: be(4),
                        bit_depth: data[8],
                        color_type: data[9],
                        trns: None,
                    })
                }
                b"tRNS" => header.as_mut()?.trns = Some(data.to_vec()),
                b"IDAT" | b"IEND" => break,
                _ => {}
            }
            pos += 12 + len;
        }
        header
    }

    /// Pillow mode `I;16`: 16-bit grayscale, clamped (not scaled) to 8 bits.
    pub(super) fn is_gray16(&self) -> bool {
        self.color_type == 0 && self.bit_depth == 16
    }

    /// The colour key (after Pillow's 8-bit conversion) whose pixels become transparent:
    /// grayscale and RGB images only; palette tRNS is real alpha, handled by the decoder.
    pub(super) fn color_key(&self) -> Option<[u8; 3]> {
        let t = self.trns.as_deref()?;
        let sample = |i: usize| Some(u16::from_be_bytes([*t.get(2 * i)?, *t.get(2 * i + 1)?]));
        match self.color_type {
            0 => {
                let v = sample(0)?;
                // PngImagePlugin scales the key for 1-bit images (mode "1") only.
                let v = if self.bit_depth == 1 { v.wrapping_mul(255) } else { v }; // only the low byte is compared
                Some([(v & 0xff) as u8; 3])
            }
            2 => Some([
                (sample(0)? & 0xff) as u8,
                (sample(1)? & 0xff) as u8,
                (sample(2)? & 0xff) as u8,
            ]),
            _ => None,
        }
    }
}
