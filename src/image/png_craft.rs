//! Test helpers that write PNG files by hand: chunks with their CRC, and zlib streams of
//! stored (uncompressed) blocks, for files no encoder we have writes (Adam7, crafted chunks).

/// CRC-32 as PNG chunks use it (ISO 3309, reflected, polynomial 0xEDB88320).
pub(super) fn crc(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// A chunk: length, type, data, CRC of type and data.
pub(super) fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
    let body = [kind, data].concat();
    [&(data.len() as u32).to_be_bytes()[..], &body, &crc(&body).to_be_bytes()].concat()
}

/// `data` as a zlib stream of stored deflate blocks (RFC 1950/1951), with its Adler-32.
pub(super) fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = data.chunks(0xffff).collect();
    for (i, block) in blocks.iter().enumerate() {
        out.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    if blocks.is_empty() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&(b << 16 | a).to_be_bytes());
    out
}

/// The chunks of a PNG file as `(type, data)`, in order.
pub(super) fn chunks(png: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos + 12 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
        out.push((png[pos + 4..pos + 8].try_into().unwrap(), &png[pos + 8..pos + 8 + len]));
        pos += 12 + len;
    }
    out
}

/// A PNG of `chunks`, written in order after the signature.
pub(super) fn file(chunks: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in chunks {
        out.extend(chunk(kind, data));
    }
    out
}
