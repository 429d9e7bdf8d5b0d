//! The index file (`docs/search-index.md`): safetensors with two tensors,
//! `embeddings` (I8, `[pictures, dim]`) and `scales` (F32, `[pictures]`), and
//! the rest as JSON in the header's `__metadata__` under `webclip.index`
//! (model, template, root, and each picture's path, size and time). A file
//! read back is untrusted (an import, or OPFS written by an older page): every
//! count, size, path and number is checked before it is used.

use std::collections::BTreeMap;

use safetensors::Dtype;
use serde::{Deserialize, Serialize};

use super::codes::{Codes, MAX_DIM};
use super::{Entry, IndexInfo, ModelRef, SearchIndex};
use crate::error::{Error, Result};
use crate::model::header;

/// Most pictures an index holds: 250,000 × 512 values is 129 MB of codes.
pub const MAX_PICTURES: usize = 250_000;
/// Longest relative path, in bytes (most file systems stop at 4,096, photo folders far earlier).
pub const MAX_PATH_BYTES: usize = 1024;
/// Longest model name, root or template.
const MAX_NAME_BYTES: usize = 2048;
/// Largest time accepted: integers stay exact in an f64 up to 2^53.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

const KEY: &str = "webclip.index";
const FORMAT: &str = "webclip-index";
const VERSION: u32 = 1;

/// How large an index file may be.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_pictures: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_pictures: MAX_PICTURES }
    }
}

/// `__metadata__["webclip.index"]`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    format: String,
    version: u32,
    model: ModelRef,
    template: String,
    root: String,
    dim: usize,
    paths: Vec<String>,
    sizes: Vec<u64>,
    modified: Vec<f64>,
}

/// A relative, `/`-separated path with no `.` or `..` step, no control character and no backslash.
pub fn check_path(path: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::Input(format!("picture path {path:?} {why}")));
    if path.len() > MAX_PATH_BYTES {
        return bad(&format!("is {} bytes long, more than {MAX_PATH_BYTES}", path.len()));
    }
    if path.chars().any(|c| c.is_control() || c == '\\') {
        return bad("holds a control character or a backslash");
    }
    if path.split('/').any(|step| step.is_empty() || step == "." || step == "..") {
        return bad("is not relative to its folder (an empty, . or .. step)");
    }
    Ok(())
}

fn check_name(what: &str, value: &str) -> Result<()> {
    if value.len() > MAX_NAME_BYTES || value.chars().any(char::is_control) {
        return Err(Error::Input(format!(
            "the {what} is more than {MAX_NAME_BYTES} bytes long or holds a control character"
        )));
    }
    Ok(())
}

impl SearchIndex {
    /// The index as a file.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let n = self.len();
        let meta = Meta {
            format: FORMAT.into(),
            version: VERSION,
            model: self.info.model.clone(),
            template: self.info.template.clone(),
            root: self.info.root.clone(),
            dim: self.dim(),
            paths: self.entries.iter().map(|e| e.path.clone()).collect(),
            sizes: self.entries.iter().map(|e| e.size).collect(),
            modified: self.entries.iter().map(|e| e.modified).collect(),
        };
        let json = serde_json::to_string(&meta)
            .map_err(|e| Error::Internal(format!("writing an index's metadata: {e}")))?;
        let (head, _) = header::write(
            BTreeMap::from([(KEY.to_string(), json)]),
            vec![
                ("embeddings".into(), Dtype::I8, vec![n, self.dim()]),
                ("scales".into(), Dtype::F32, vec![n]),
            ],
        )?;
        let mut out = head;
        out.extend(self.codes.values().iter().map(|&c| c as u8));
        out.extend(self.codes.scales().iter().flat_map(|s| s.to_le_bytes()));
        Ok(out)
    }

    /// An index file read back; `name` says which file in errors.
    pub fn from_bytes(bytes: &[u8], name: &str, limits: Limits) -> Result<SearchIndex> {
        let bad = |why: String| Error::file(name, format!("not a usable webclip index: {why}"));
        let (data_start, metadata) = header::parse(bytes, name)?;
        let data = &bytes[data_start..];
        let json = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(KEY))
            .ok_or_else(|| bad(format!("its header has no {KEY:?} metadata")))?;
        let meta: Meta = serde_json::from_str(json).map_err(|e| bad(format!("{KEY}: {e}")))?;
        if meta.format != FORMAT || meta.version != VERSION {
            return Err(bad(format!(
                "format {:?} version {}, this webclip reads {FORMAT:?} version {VERSION}",
                meta.format, meta.version
            )));
        }
        let n = meta.paths.len();
        if n > limits.max_pictures {
            return Err(bad(format!(
                "{n} pictures, more than the {} allowed",
                limits.max_pictures
            )));
        }
        if meta.sizes.len() != n || meta.modified.len() != n {
            return Err(bad(format!(
                "{n} paths but {} sizes and {} times",
                meta.sizes.len(),
                meta.modified.len()
            )));
        }
        if meta.dim == 0 || meta.dim > MAX_DIM {
            return Err(bad(format!("embeddings of {} values (1 to {MAX_DIM})", meta.dim)));
        }
        if meta.model.sha256.len() != 64
            || !meta.model.sha256.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(bad("its model's sha256 is not 64 hexadecimal digits".into()));
        }
        for (what, value) in
            [("model name", &meta.model.name), ("root", &meta.root), ("template", &meta.template)]
        {
            check_name(what, value).map_err(|e| bad(e.to_string()))?;
        }
        let mut seen = std::collections::HashSet::new();
        for ((path, &size), &modified) in meta.paths.iter().zip(&meta.sizes).zip(&meta.modified) {
            check_path(path).map_err(|e| bad(e.to_string()))?;
            if !seen.insert(path.as_str()) {
                return Err(bad(format!("picture path {path:?} is listed twice")));
            }
            if size as f64 > MAX_EXACT || !(0.0..=MAX_EXACT).contains(&modified) {
                return Err(bad(format!("{path:?} has a size or time out of range")));
            }
        }
        let tensor = |tname: &str, dtype: Dtype, shape: Vec<usize>, bytes_per: usize| {
            let info =
                metadata.info(tname).ok_or_else(|| bad(format!("it has no tensor {tname:?}")))?;
            if info.dtype != dtype || info.shape != shape {
                return Err(bad(format!(
                    "tensor {tname:?} is {:?} {:?}, expected {dtype:?} {shape:?}",
                    info.dtype, info.shape
                )));
            }
            let (start, end) = info.data_offsets;
            let want = shape.iter().product::<usize>() * bytes_per;
            if end.checked_sub(start) != Some(want) || end > data.len() {
                return Err(bad(format!(
                    "tensor {tname:?} claims bytes {start}..{end} of {} (it needs {want})",
                    data.len()
                )));
            }
            Ok(&data[start..end])
        };
        let codes = tensor("embeddings", Dtype::I8, vec![n, meta.dim], 1)?;
        let scales = tensor("scales", Dtype::F32, vec![n], 4)?;
        let scales: Vec<f32> =
            scales.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if let Some(i) = scales.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(bad(format!("{:?} has a scale of {}", meta.paths[i], scales[i])));
        }
        let entries = meta
            .paths
            .into_iter()
            .zip(meta.sizes)
            .zip(meta.modified)
            .map(|((path, size), modified)| Entry { path, size, modified })
            .collect();
        Ok(SearchIndex {
            info: IndexInfo { model: meta.model, root: meta.root, template: meta.template },
            entries,
            codes: Codes::from_parts(meta.dim, codes.iter().map(|&b| b as i8).collect(), scales),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SearchIndex {
        let info = IndexInfo {
            model: ModelRef { name: "models/demo".into(), sha256: "ab".repeat(32) },
            root: "Photos".into(),
            template: "a photo of {}".into(),
        };
        let mut ix = SearchIndex::new(info, 3).unwrap();
        ix.insert(Entry { path: "a/b.png".into(), size: 12, modified: 1.7e12 }, &[1.0, 2.0, 2.0])
            .unwrap();
        ix.insert(Entry { path: "c.jpg".into(), size: 5, modified: 3.0 }, &[0.0, -1.0, 0.0])
            .unwrap();
        ix
    }

    #[test]
    fn an_index_reads_back_as_written() {
        let ix = sample();
        let back =
            SearchIndex::from_bytes(&ix.to_bytes().unwrap(), "x", Limits::default()).unwrap();
        assert_eq!(back.info, ix.info);
        assert_eq!(back.entries(), ix.entries());
        assert_eq!(back.codes().values(), ix.codes().values());
        assert_eq!(back.codes().scales(), ix.codes().scales());
        // By hand: (1, 2, 2) / 3 stores 2/3 as 127, 1/3 as round(63.5) = 64.
        assert_eq!(&back.codes().values()[..3], &[64, 127, 127]);
    }

    /// Rewrites the metadata JSON of `ix`'s file with `edit` and reads it back.
    fn tampered(edit: impl Fn(&mut serde_json::Value)) -> String {
        let bytes = sample().to_bytes().unwrap();
        let (start, meta) = header::parse(&bytes, "x").unwrap();
        let mut json: serde_json::Value =
            serde_json::from_str(&meta.metadata().as_ref().unwrap()[KEY]).unwrap();
        edit(&mut json);
        let (head, _) = header::write(
            BTreeMap::from([(KEY.to_string(), json.to_string())]),
            vec![
                ("embeddings".into(), Dtype::I8, vec![2, 3]),
                ("scales".into(), Dtype::F32, vec![2]),
            ],
        )
        .unwrap();
        let file = [&head[..], &bytes[start..]].concat();
        match SearchIndex::from_bytes(&file, "x.webclip-index", Limits::default()) {
            Ok(_) => "accepted".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn untrusted_files_are_checked() {
        assert_eq!(tampered(|_| {}), "accepted");
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: [(&str, Edit); 7] = [
            (
                "\"../../etc/passwd\" is not relative",
                Box::new(|j| j["paths"][0] = "../../etc/passwd".into()),
            ),
            ("\"/abs.png\" is not relative", Box::new(|j| j["paths"][0] = "/abs.png".into())),
            ("is listed twice", Box::new(|j| j["paths"][1] = "a/b.png".into())),
            ("2 paths but 1 sizes", Box::new(|j| j["sizes"] = serde_json::json!([1]))),
            (
                "expected I8 [3, 3]",
                Box::new(|j| {
                    for (key, v) in
                        [("paths", "d".into()), ("sizes", 1.into()), ("modified", 1.0.into())]
                    {
                        j[key].as_array_mut().unwrap().push(v);
                    }
                }),
            ),
            ("sha256 is not 64", Box::new(|j| j["model"]["sha256"] = "x".into())),
            ("size or time out of range", Box::new(|j| j["modified"][0] = (-1.0).into())),
        ];
        for (want, edit) in cases {
            let got = tampered(edit);
            assert!(
                got.starts_with("x.webclip-index: not a usable webclip index")
                    && got.contains(want),
                "{want}: {got}"
            );
        }
        let bytes = sample().to_bytes().unwrap();
        let cut = SearchIndex::from_bytes(&bytes[..bytes.len() - 3], "x", Limits::default());
        assert!(cut.err().unwrap().to_string().contains("claims bytes"));
        let few = SearchIndex::from_bytes(&bytes, "x", Limits { max_pictures: 1 });
        assert!(few.err().unwrap().to_string().contains("2 pictures, more than the 1"));
        assert!(SearchIndex::from_bytes(b"<html>", "x", Limits::default()).is_err());
    }
}
