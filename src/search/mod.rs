//! Photo search: an index of a folder's pictures (one CLIP image embedding each,
//! held as int8 with a scale per picture) that ranks them against words, an
//! example picture or both, groups near-duplicates, and updates itself when the
//! folder changes. It knows nothing of engines: the faces embed pictures with a
//! `ClipModel` and hand the features in. The file format is `index_file.rs`
//! (`docs/search-index.md`); the page keeps it in the origin private file
//! system, the CLI next to the folder.

mod codes;
mod duplicates;
mod index_file;
mod rank;
mod update;

pub use codes::Codes;
pub use duplicates::DEFAULT_THRESHOLD;
pub use index_file::{check_path, Limits, MAX_PICTURES};
pub use rank::{combine, Hit};
pub use update::{Listed, Update};

use crate::error::{Error, Result};

/// The model an index was made with: embeddings from other weights cannot be compared.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelRef {
    /// Where it was loaded from (a path, a URL or a Hub id), as given.
    pub name: String,
    /// SHA-256 of the model file's bytes, lowercase hex.
    pub sha256: String,
}

/// One picture of the folder.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Relative to the folder, `/`-separated.
    pub path: String,
    /// Bytes of the file.
    pub size: u64,
    /// Last modification, milliseconds since the Unix epoch (what `File.lastModified` gives).
    pub modified: f64,
}

/// What an index says about itself.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexInfo {
    pub model: ModelRef,
    /// The folder's name when it was indexed.
    pub root: String,
    /// The prompt template word queries are put in (`"a photo of {}"`).
    pub template: String,
}

/// A folder's pictures and their embeddings, in the order they were added.
pub struct SearchIndex {
    pub info: IndexInfo,
    entries: Vec<Entry>,
    codes: Codes,
}

impl SearchIndex {
    /// An empty index for embeddings of `dim` values.
    pub fn new(info: IndexInfo, dim: usize) -> Result<SearchIndex> {
        crate::model::scores::check_inputs(&["x".into()], std::slice::from_ref(&info.template))?;
        Ok(SearchIndex { info, entries: Vec::new(), codes: Codes::new(dim)? })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.codes.dim()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn position(&self, path: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.path == path)
    }

    /// Adds a picture, or replaces the one of the same path. `embedding` is the
    /// model's image features (any length: stored at unit length).
    pub fn insert(&mut self, entry: Entry, embedding: &[f32]) -> Result<()> {
        index_file::check_path(&entry.path)?;
        if embedding.len() != self.dim() {
            return Err(Error::Input(format!(
                "{}: an embedding of {} values, the index holds {}",
                entry.path,
                embedding.len(),
                self.dim()
            )));
        }
        match self.position(&entry.path) {
            Some(i) => {
                self.codes.set(i, embedding)?;
                self.entries[i] = entry;
            }
            None => {
                if self.len() >= MAX_PICTURES {
                    return Err(Error::Input(format!(
                        "{}: the index already holds {MAX_PICTURES} pictures, its limit",
                        entry.path
                    )));
                }
                self.codes.push(embedding)?;
                self.entries.push(entry);
            }
        }
        Ok(())
    }

    /// Removes these paths (those not in the index are ignored); how many went.
    pub fn remove(&mut self, paths: &[String]) -> usize {
        let gone: std::collections::HashSet<&str> = paths.iter().map(String::as_str).collect();
        let keep: Vec<bool> =
            self.entries.iter().map(|e| !gone.contains(e.path.as_str())).collect();
        let before = self.len();
        self.codes.retain(&keep);
        let mut k = keep.iter();
        self.entries.retain(|_| *k.next().unwrap_or(&true));
        before - self.len()
    }

    /// The stored embedding of picture `i`, at unit length (as far as int8 keeps it).
    pub fn embedding(&self, i: usize) -> Vec<f32> {
        self.codes.row(i)
    }

    pub fn codes(&self) -> &Codes {
        &self.codes
    }
}

/// An empty index of `dim` values for unit tests.
#[cfg(test)]
fn test_index(dim: usize) -> SearchIndex {
    let info = IndexInfo {
        model: ModelRef { name: "m".into(), sha256: "0".repeat(64) },
        root: "r".into(),
        template: "{}".into(),
    };
    SearchIndex::new(info, dim).unwrap()
}
