//! The webclip model file: one safetensors file that is a complete model, its
//! matrices already in a GPU weight format. Its layout is documented for other
//! readers in `docs/model-file.md`; this module is its one definition.
//!
//! - Header metadata: `format` = `webclip`, `webclip.version`, `webclip.weights`
//!   (`f32`, `f16`, `q8` or `q4`), `webclip.source` (where it was converted
//!   from), and the full texts of `config.json`, `tokenizer.json` and
//!   `preprocessor_config.json`.
//! - Every matrix ([`is_matrix`]) under its Hugging Face name, packed as
//!   [`PackedWeight`] lays it out, with its scales beside it as `<name>.scales`.
//! - Every other tensor under its Hugging Face name, as F32.

use std::collections::BTreeMap;

use safetensors::tensor::Metadata;
use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::ops::{PackedWeight, WeightFormat};

use super::config::ClipConfig;
use super::files::ModelTexts;
use super::weights::{self, Kind};

pub const FORMAT: &str = "webclip";
pub const VERSION: &str = "1";
pub const KEY_FORMAT: &str = "format";
pub const KEY_VERSION: &str = "webclip.version";
pub const KEY_WEIGHTS: &str = "webclip.weights";
pub const KEY_SOURCE: &str = "webclip.source";
/// Metadata keys holding whole files, named as the files they replace.
pub const EMBEDDED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "preprocessor_config.json"];

/// Largest header accepted (safetensors' own limit): checked before it is read.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The tensors the kernels multiply by, stored packed: every linear layer of
/// both encoders, the patch embedding (as `[width, channels · patch²]`), both
/// projections and the token table.
pub fn is_matrix(name: &str) -> bool {
    let in_layer = name.contains(".encoder.layers.");
    (in_layer
        && (name.ends_with("_proj.weight")
            || name.ends_with(".mlp.fc1.weight")
            || name.ends_with(".mlp.fc2.weight")))
        || matches!(
            name,
            "vision_model.embeddings.patch_embedding.weight"
                | "visual_projection.weight"
                | "text_projection.weight"
                | "text_model.embeddings.token_embedding.weight"
        )
}

pub fn scales_name(name: &str) -> String {
    format!("{name}.scales")
}

/// dtype and shape of a packed matrix's data tensor, and its scales' shape (F16).
/// Every format stores 4 numbers (f32, f16, i8) or 4 bytes (q4's 8 nibbles)
/// per column of a data row.
pub fn packed_layout(
    format: WeightFormat,
    n: usize,
    k: usize,
) -> (Dtype, Vec<usize>, Option<Vec<usize>>) {
    let l = format.layout(n, k);
    let dtype = match format {
        WeightFormat::F32 => Dtype::F32,
        WeightFormat::F16 => Dtype::F16,
        WeightFormat::Q8 => Dtype::I8,
        WeightFormat::Q4 => Dtype::U8,
    };
    (dtype, vec![l.data_rows, l.np, 4], (l.scale_rows > 0).then(|| vec![l.scale_rows, l.np]))
}

/// The header length a safetensors file starts with, checked against the
/// limit and the file's length (when known) before the header is read.
/// `prefix` is the file's first bytes (8 or more).
pub fn header_length(prefix: &[u8], file_len: Option<u64>, source: &str) -> Result<u64> {
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
        Some(len) if plausible => Error::file(source, format!("is truncated: its header claims {n} bytes but the file has {len}")),
        _ if n > MAX_HEADER_BYTES => Error::file(source, format!("not a safetensors file: its header claims {n} bytes, more than the {MAX_HEADER_BYTES} allowed")),
        _ => Error::file(source, format!("not a safetensors file: its header claims {n} bytes")),
    })
}

/// The error for a file too short to be safetensors (`bytes` is all of it).
pub fn not_safetensors(bytes: &[u8], source: &str) -> Error {
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
        "a zip archive (a PyTorch .bin checkpoint? run `webclip convert` on a safetensors checkpoint instead)"
    } else if prefix.starts_with(b"\x1f\x8b") {
        "gzip-compressed (decompress it first)"
    } else {
        return None;
    })
}

/// A safetensors header read from the first bytes of a file: its length
/// (counting the 8-byte size prefix) and contents. Offsets are not checked
/// against a file length here (it may not have been read yet).
pub fn read_header(bytes: &[u8], source: &str) -> Result<(usize, Metadata)> {
    let bad = |why: String| Error::file(source, format!("not a safetensors file: {why}"));
    let n = u64::from_le_bytes(
        bytes
            .get(..8)
            .ok_or_else(|| bad(format!("{} bytes", bytes.len())))?
            .try_into()
            .unwrap_or_default(),
    );
    if n > MAX_HEADER_BYTES {
        return Err(bad(format!(
            "its header claims {n} bytes, more than the {MAX_HEADER_BYTES} allowed"
        )));
    }
    let end = 8 + n as usize;
    let header = bytes.get(8..end).ok_or_else(|| {
        bad(format!("its header claims {n} bytes but the file has {}", bytes.len()))
    })?;
    let text = std::str::from_utf8(header).map_err(|_| bad("its header is not UTF-8".into()))?;
    let metadata: Metadata =
        serde_json::from_str(text).map_err(|e| bad(format!("its header is not valid: {e}")))?;
    Ok((end, metadata))
}

/// What a header's metadata says about the file: `Some(format)` for a webclip
/// file (after checking its version), `None` for a Hugging Face checkpoint.
pub fn stored_format(metadata: &Metadata, source: &str) -> Result<Option<WeightFormat>> {
    let Some(map) = metadata.metadata() else { return Ok(None) };
    if map.get(KEY_FORMAT).map(String::as_str) != Some(FORMAT) {
        return Ok(None);
    }
    let version = map.get(KEY_VERSION).map(String::as_str).unwrap_or("(none)");
    if version != VERSION {
        return Err(Error::file(source, format!("is a webclip model file of version {version}; this webclip reads version {VERSION} (convert the checkpoint again)")));
    }
    let weights = map
        .get(KEY_WEIGHTS)
        .ok_or_else(|| Error::file(source, format!("webclip model file without {KEY_WEIGHTS}")))?;
    WeightFormat::parse(weights).map(Some).map_err(|e| Error::file(source, e))
}

/// A model file laid out before a byte of it is written: its header and
/// where each tensor's bytes go. Tensors are sorted by name (each matrix's
/// data then its scales), offsets contiguous, keys sorted: one checkpoint
/// always converts to the same bytes, whether by `webclip convert` or by a
/// browser caching what it quantized while loading.
pub struct Plan {
    pub header: Vec<u8>,
    /// Absolute byte range of every tensor, by name.
    ranges: BTreeMap<String, (u64, usize)>,
    /// The file's length.
    pub len: u64,
}

impl Plan {
    /// The file for the model `texts` describe, its matrices in `format`;
    /// `source` is recorded as where it came from.
    pub fn new(texts: &ModelTexts, format: WeightFormat, source: &str) -> Result<Plan> {
        let config = ClipConfig::from_json(&texts.config)?;
        let mut expected = weights::expected(&config);
        expected.sort_by(|a, b| a.name.cmp(&b.name));
        let mut layout = Vec::new();
        for e in expected {
            if e.kind == Kind::Matrix {
                let (n, k) = weights::matrix_dims(&e.shape);
                let (dtype, shape, scales) = packed_layout(format, n, k);
                layout.push((e.name.clone(), dtype, shape));
                if let Some(scales) = scales {
                    layout.push((scales_name(&e.name), Dtype::F16, scales));
                }
            } else {
                layout.push((e.name, Dtype::F32, e.shape));
            }
        }
        // Stored as compact JSON: a pretty-printed tokenizer.json is 1.6x the size.
        let compact = |name: &str, text: &[u8]| -> Result<String> {
            let value: serde_json::Value = serde_json::from_slice(text)
                .map_err(|e| Error::file(name, format!("is not JSON: {e}")))?;
            Ok(value.to_string())
        };
        let metadata: BTreeMap<String, String> = [
            (KEY_FORMAT, FORMAT.to_string()),
            (KEY_VERSION, VERSION.to_string()),
            (KEY_WEIGHTS, format.name().to_string()),
            (KEY_SOURCE, source.to_string()),
            (EMBEDDED_FILES[0], compact(EMBEDDED_FILES[0], texts.config.as_bytes())?),
            (EMBEDDED_FILES[1], compact(EMBEDDED_FILES[1], &texts.tokenizer)?),
            (EMBEDDED_FILES[2], compact(EMBEDDED_FILES[2], texts.preprocessor.as_bytes())?),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();

        let (header, offsets) = header(metadata, layout)?;
        let start = header.len() as u64;
        let len = start + offsets.last().map_or(0, |(_, offset, len)| offset + *len as u64);
        let ranges =
            offsets.into_iter().map(|(name, offset, len)| (name, (start + offset, len))).collect();
        Ok(Plan { len, header, ranges })
    }

    /// Absolute offset and length of `name`'s bytes.
    pub fn range(&self, name: &str) -> Option<(u64, usize)> {
        self.ranges.get(name).copied()
    }

    /// Tensor names in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let mut names: Vec<(&u64, &str)> =
            self.ranges.iter().map(|(n, (o, _))| (o, n.as_str())).collect();
        names.sort();
        names.into_iter().map(|(_, n)| n)
    }
}

/// Each tensor's name, offset from the data's start, and length.
type Offsets = Vec<(String, u64, usize)>;

/// A safetensors header (8-byte length, then JSON with sorted keys) for
/// tensors in the given order, and each one's offset from the data's start.
fn header(
    metadata: BTreeMap<String, String>,
    tensors: Vec<(String, Dtype, Vec<usize>)>,
) -> Result<(Vec<u8>, Offsets)> {
    let mut map = serde_json::Map::new();
    map.insert("__metadata__".into(), serde_json::json!(metadata));
    let mut offsets = Vec::new();
    let mut offset = 0;
    for (name, dtype, shape) in tensors {
        let len = shape.iter().product::<usize>() * dtype.bitsize() / 8;
        map.insert(name.clone(), serde_json::json!({ "dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len] }));
        offsets.push((name, offset as u64, len));
        offset += len;
    }
    let mut json =
        serde_json::to_vec(&map).map_err(|e| Error::Input(format!("model file header: {e}")))?;
    // Data starts 8-byte aligned, as safetensors' own writer does it.
    json.resize(json.len().next_multiple_of(8), b' ');
    Ok(([&(json.len() as u64).to_le_bytes()[..], &json].concat(), offsets))
}

impl PackedWeight {
    /// The data tensor's bytes as the file stores them (little-endian words: on
    /// the little-endian targets webclip runs on, the words themselves, no copy).
    pub fn data_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.data)
    }

    /// The scales tensor's bytes (little-endian f16 bits, as [`PackedWeight::data_bytes`]).
    pub fn scale_bytes(&self) -> &[u8] {
        bytemuck::cast_slice(&self.scales)
    }

    /// The inverse of [`PackedWeight::data_bytes`] and [`PackedWeight::scale_bytes`]; lengths
    /// must match [`packed_layout`] (callers check the shapes).
    pub fn from_bytes(
        format: WeightFormat,
        n: usize,
        k: usize,
        data: &[u8],
        scales: &[u8],
    ) -> PackedWeight {
        let data =
            data.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let scales = scales.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
        PackedWeight { format, n, k, data, scales }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::random;

    #[test]
    fn matrices_are_the_linear_layers_embeddings_and_projections() {
        for name in [
            "text_model.encoder.layers.3.self_attn.q_proj.weight",
            "vision_model.encoder.layers.0.mlp.fc2.weight",
            "visual_projection.weight",
            "text_model.embeddings.token_embedding.weight",
        ] {
            assert!(is_matrix(name), "{name}");
        }
        for name in [
            "text_model.encoder.layers.3.self_attn.q_proj.bias",
            "vision_model.encoder.layers.0.layer_norm1.weight",
            "vision_model.embeddings.position_embedding.weight",
            "logit_scale",
        ] {
            assert!(!is_matrix(name), "{name}");
        }
    }

    #[test]
    fn layout_sizes_match_the_packed_bytes() {
        let (n, k) = (10, 70);
        let w = random(n * k, 3, 1.0);
        for format in WeightFormat::ALL {
            let p = PackedWeight::pack(format, &w, n, k);
            let (dtype, shape, scales) = packed_layout(format, n, k);
            assert_eq!(
                shape.iter().product::<usize>() * dtype.bitsize() / 8,
                p.data_bytes().len(),
                "{format:?} data"
            );
            assert_eq!(
                scales.map_or(0, |s| s.iter().product::<usize>() * 2),
                p.scale_bytes().len(),
                "{format:?} scales"
            );
            assert_eq!(PackedWeight::from_bytes(format, n, k, p.data_bytes(), p.scale_bytes()), p);
        }
    }

    #[test]
    fn headers_are_checked_before_use() {
        let h = header(
            [
                (KEY_FORMAT.to_string(), FORMAT.to_string()),
                (KEY_VERSION.to_string(), "9".to_string()),
            ]
            .into(),
            vec![("a".into(), Dtype::F32, vec![2])],
        )
        .unwrap()
        .0;
        let (end, meta) = read_header(&h, "m").unwrap();
        assert_eq!((end, end % 8), (h.len(), 0));
        assert!(stored_format(&meta, "m").unwrap_err().to_string().contains("version 9"));
        let huge = [&(MAX_HEADER_BYTES + 1).to_le_bytes()[..], b"{}"].concat();
        assert!(read_header(&huge, "m").unwrap_err().to_string().contains("more than"));
        assert!(read_header(&h[..20], "m").unwrap_err().to_string().contains("claims"));
    }
}
