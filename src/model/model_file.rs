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
use super::header::{self, Header};
use super::precision;
use super::schema::{self, Kind};
use super::texts::ModelTexts;

/// Where [`is_matrix`] was defined before `schema.rs`.
pub use super::schema::is_matrix;

pub const FORMAT: &str = "webclip";
pub const VERSION: &str = "1";
pub const KEY_FORMAT: &str = "format";
pub const KEY_VERSION: &str = "webclip.version";
pub const KEY_WEIGHTS: &str = "webclip.weights";
pub const KEY_SOURCE: &str = "webclip.source";
/// Metadata keys holding whole files, named as the files they replace.
pub const EMBEDDED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "preprocessor_config.json"];

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

impl Header {
    /// `Some(format)` for a webclip model file, `None` for a checkpoint.
    pub fn stored_format(&self, source: &str) -> Result<Option<WeightFormat>> {
        stored_format(&self.metadata, source)
    }

    /// A webclip model file's config, tokenizer and preprocessor, from its header.
    pub fn texts(&self, source: &str) -> Result<ModelTexts> {
        if self.stored_format(source)?.is_none() {
            return Err(Error::file(
                source,
                "is a safetensors file but not a webclip model file (give the directory it came \
                 from, or run `webclip convert`)",
            ));
        }
        let map = self.metadata.metadata().clone().unwrap_or_default();
        let text = |key: &str| {
            map.get(key).cloned().ok_or_else(|| {
                Error::file(source, format!("webclip model file without {key} in its header"))
            })
        };
        let [config, tokenizer, preprocessor] = EMBEDDED_FILES.map(text);
        Ok(ModelTexts {
            config: config?,
            tokenizer: tokenizer?.into_bytes(),
            preprocessor: preprocessor?,
        })
    }
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
        let mut expected = schema::expected(&config);
        expected.sort_by(|a, b| a.name.cmp(&b.name));
        let mut layout = Vec::new();
        for e in expected {
            if e.kind == Kind::Matrix {
                let (n, k) = schema::matrix_dims(&e.shape);
                let matrix_format = precision::matrix_format(format, config.family, &e.name);
                let (dtype, shape, scales) = packed_layout(matrix_format, n, k);
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

        let (header, offsets) = header::write(metadata, layout)?;
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
    fn a_model_file_of_another_version_is_refused() {
        let metadata = [(KEY_FORMAT, FORMAT), (KEY_VERSION, "9")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
        let (bytes, _) = header::write(metadata, vec![("a".into(), Dtype::F32, vec![2])]).unwrap();
        let (_, meta) = header::parse(&bytes, "m").unwrap();
        assert!(stored_format(&meta, "m").unwrap_err().to_string().contains("version 9"));
    }
}
