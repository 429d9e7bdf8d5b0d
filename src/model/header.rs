//! The safetensors header, read and written in one place: an 8-byte
//! little-endian length, then that many bytes of JSON (tensor names, dtypes,
//! shapes, byte ranges, and `__metadata__`). Every length is checked against
//! [`MAX_HEADER_BYTES`] and the file's length before anything is allocated
//! from it; a file that is not safetensors at all is named for what it most
//! likely is (an HTML page, a Git LFS pointer, ...).

use std::collections::BTreeMap;

use safetensors::tensor::Metadata;
use safetensors::Dtype;

use crate::error::{Error, Result};

use super::reader::TensorSource;

/// Largest header accepted (safetensors' own limit): checked before it is read.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Most entries a header may list (tensors, and `__metadata__`), counted before it is
/// parsed: the largest checkpoint we know of (OpenCLIP's ViT-bigG, about 1,300 tensors;
/// a webclip model file adds a scale tensor per matrix) has under 3,000. Without it a
/// 99 MB header of 1.65 million empty tensors parses into 1.27 GB of maps and names.
pub const MAX_TENSORS: usize = 20_000;

/// Bytes read first: enough to tell an HTML page or a Git LFS pointer from
/// a safetensors header when the length it starts with makes no sense.
const PREFIX_BYTES: usize = 64;

/// A safetensors header: where the data starts and what it holds.
pub struct Header {
    pub data_start: u64,
    pub metadata: Metadata,
}

impl Header {
    /// Reads the 8-byte length, then the header, from `source`.
    pub async fn read(source: &dyn TensorSource) -> Result<Header> {
        if let Some(len @ 0..8) = source.len() {
            return Err(not_safetensors(&source.read(0, len as usize).await?, source.name()));
        }
        // At least 8 bytes are there (checked above) when the length is known.
        let prefix =
            source.read(0, source.len().map_or(8, |len| PREFIX_BYTES.min(len as usize))).await?;
        let n = header_length(&prefix, source.len(), source.name())?;
        // The prefix's bytes are not read again.
        let end = 8 + n as usize;
        let mut bytes = prefix;
        if end > bytes.len() {
            let rest = source.read(bytes.len() as u64, end - bytes.len()).await?;
            bytes.extend_from_slice(&rest);
        }
        bytes.truncate(end);
        let (data_start, metadata) = parse(&bytes, source.name())?;
        Ok(Header { data_start: data_start as u64, metadata })
    }
}

/// The header length a safetensors file starts with, checked against the
/// limit and the file's length (when known) before the header is read.
/// `prefix` is the file's first bytes (8 or more).
fn header_length(prefix: &[u8], file_len: Option<u64>, source: &str) -> Result<u64> {
    let n = u64::from_le_bytes(
        prefix
            .get(..8)
            .ok_or_else(|| not_safetensors(prefix, source))?
            .try_into()
            .unwrap_or_default(),
    );
    let plausible = (2..=MAX_HEADER_BYTES).contains(&n);
    if plausible && file_len.is_none_or(|len| n + 8 <= len) {
        return Ok(n);
    }
    if let Some(what) = looks_like(prefix) {
        return Err(Error::file(source, format!("is {what}, not a safetensors file")));
    }
    Err(match file_len {
        Some(len) if plausible => Error::file(
            source,
            format!("is truncated: its header claims {n} bytes but the file has {len}"),
        ),
        _ if n > MAX_HEADER_BYTES => Error::file(source, too_long(n)),
        _ => Error::file(source, format!("not a safetensors file: its header claims {n} bytes")),
    })
}

fn too_long(n: u64) -> String {
    format!(
        "not a safetensors file: its header claims {n} bytes, more than the {MAX_HEADER_BYTES} \
         allowed"
    )
}

/// The error for a file too short to be safetensors (`bytes` is all of it).
fn not_safetensors(bytes: &[u8], source: &str) -> Error {
    match (bytes.len(), looks_like(bytes)) {
        (0, _) => Error::file(source, "is empty (0 bytes), not a safetensors file"),
        (_, Some(what)) => Error::file(source, format!("is {what}, not a safetensors file")),
        (n, None) => Error::file(source, format!("not a safetensors file: only {n} bytes")),
    }
}

/// What a file that is not safetensors most likely is, from its first bytes:
/// what a web server or a Git checkout gives instead of the weights.
fn looks_like(prefix: &[u8]) -> Option<&'static str> {
    let text = prefix.strip_prefix(b"\xef\xbb\xbf").unwrap_or(prefix).trim_ascii_start();
    let starts =
        |s: &str| text.len() >= s.len() && text[..s.len()].eq_ignore_ascii_case(s.as_bytes());
    Some(if starts("version https://git-lfs") {
        "a Git LFS pointer (the repository was cloned without its large files: run `git lfs pull`)"
    } else if starts("<") {
        "an HTML page (a server's error or login page, not the weights file?)"
    } else if starts("{") || starts("[") {
        "JSON (a server's error message, not the weights file?)"
    } else if prefix.starts_with(b"PK\x03\x04") {
        "a zip archive (a PyTorch .bin checkpoint? run `webclip convert` on a safetensors \
         checkpoint instead)"
    } else if prefix.starts_with(b"\x1f\x8b") {
        "gzip-compressed (decompress it first)"
    } else {
        return None;
    })
}

/// A safetensors header read from the first bytes of a file: its length
/// (counting the 8-byte size prefix) and contents. Offsets are not checked
/// against a file length here (it may not have been read yet).
pub fn parse(bytes: &[u8], source: &str) -> Result<(usize, Metadata)> {
    let bad = |why: String| Error::file(source, format!("not a safetensors file: {why}"));
    let n = u64::from_le_bytes(
        bytes
            .get(..8)
            .ok_or_else(|| bad(format!("{} bytes", bytes.len())))?
            .try_into()
            .unwrap_or_default(),
    );
    if n > MAX_HEADER_BYTES {
        return Err(Error::file(source, too_long(n)));
    }
    let end = 8 + n as usize;
    let header = bytes.get(8..end).ok_or_else(|| {
        bad(format!("its header claims {n} bytes but the file has {}", bytes.len()))
    })?;
    let text = std::str::from_utf8(header).map_err(|_| bad("its header is not UTF-8".into()))?;
    let entries = serde_json::from_str::<EntryCount>(text)
        .map_err(|e| bad(format!("its header is not valid: {e}")))?
        .0;
    if entries > MAX_TENSORS {
        return Err(bad(format!(
            "its header lists {entries} entries, more than the {MAX_TENSORS} any model has"
        )));
    }
    let metadata: Metadata =
        serde_json::from_str(text).map_err(|e| bad(format!("its header is not valid: {e}")))?;
    Ok((end, metadata))
}

/// How many entries a JSON object has, its values skipped unread: `serde`'s `IgnoredAny`
/// allocates nothing (escaped keys aside, one at a time).
struct EntryCount(usize);

impl<'de> serde::Deserialize<'de> for EntryCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Count;
        impl<'de> serde::de::Visitor<'de> for Count {
            type Value = EntryCount;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<EntryCount, A::Error> {
                let mut n = 0;
                while map.next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(EntryCount(n))
            }
        }
        d.deserialize_map(Count)
    }
}

/// Each tensor's name, offset from the data's start, and length.
pub type Offsets = Vec<(String, u64, usize)>;

/// A safetensors header (8-byte length, then JSON with sorted keys) for
/// tensors in the given order, and each one's offset from the data's start.
pub fn write(
    metadata: BTreeMap<String, String>,
    tensors: Vec<(String, Dtype, Vec<usize>)>,
) -> Result<(Vec<u8>, Offsets)> {
    let mut map = serde_json::Map::new();
    map.insert("__metadata__".into(), serde_json::json!(metadata));
    let mut offsets = Vec::new();
    let mut offset = 0;
    for (name, dtype, shape) in tensors {
        let len = shape.iter().product::<usize>() * dtype.bitsize() / 8;
        let info = serde_json::json!({
            "dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len]
        });
        map.insert(name.clone(), info);
        offsets.push((name, offset as u64, len));
        offset += len;
    }
    let mut json = serde_json::to_vec(&map)
        .map_err(|e| Error::Internal(format!("writing a safetensors header: {e}")))?;
    // Data starts 8-byte aligned, as safetensors' own writer does it.
    json.resize(json.len().next_multiple_of(8), b' ');
    Ok(([&(json.len() as u64).to_le_bytes()[..], &json].concat(), offsets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked_before_use() {
        let (h, offsets) = write(
            [("k".to_string(), "v".to_string())].into(),
            vec![("a".into(), Dtype::F32, vec![2]), ("b".into(), Dtype::F16, vec![3])],
        )
        .unwrap();
        assert_eq!(offsets, vec![("a".into(), 0, 8), ("b".into(), 8, 6)]);
        let (end, meta) = parse(&h, "m").unwrap();
        assert_eq!((end, end % 8), (h.len(), 0));
        assert_eq!(meta.metadata().as_ref().unwrap()["k"], "v");
        let huge = [&(MAX_HEADER_BYTES + 1).to_le_bytes()[..], b"{}"].concat();
        assert!(parse(&huge, "m").unwrap_err().to_string().contains("more than"));
        assert!(parse(&h[..20], "m").unwrap_err().to_string().contains("claims"));
    }

    #[test]
    fn a_header_of_more_entries_than_any_model_is_refused_unparsed() {
        let tensors = |n: usize| (0..n).map(|i| (format!("t{i}"), Dtype::F32, vec![0])).collect();
        // With `__metadata__`, MAX_TENSORS entries: parsed; one more: refused.
        let (h, _) = write(BTreeMap::new(), tensors(MAX_TENSORS - 1)).unwrap();
        assert_eq!(parse(&h, "m").unwrap().1.tensors().len(), MAX_TENSORS - 1);
        let (h, _) = write(BTreeMap::new(), tensors(MAX_TENSORS)).unwrap();
        let err = parse(&h, "m").unwrap_err().to_string();
        assert!(err.contains("lists 20001 entries, more than the 20000 any model has"), "{err}");
    }

    #[test]
    fn a_length_is_refused_before_anything_is_allocated_from_it() {
        let huge = (1u64 << 40).to_le_bytes();
        let err = header_length(&huge, None, "m").unwrap_err().to_string();
        assert!(err.contains("1099511627776 bytes, more than the 100000000 allowed"), "{err}");
        let err = header_length(&100u64.to_le_bytes(), Some(50), "m").unwrap_err().to_string();
        assert!(err.contains("is truncated: its header claims 100 bytes but the file has 50"));
        let err = header_length(b"<html><body>", None, "m").unwrap_err().to_string();
        assert!(err.contains("is an HTML page"), "{err}");
    }
}
