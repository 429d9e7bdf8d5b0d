//! `SearchIndex`: the wasm face of [`crate::search::SearchIndex`], held by the
//! worker (`www/worker-search.js`). Embeddings come in from a [`super::Model`]'s
//! `embedImages`/`embedTexts`; results go out as plain JS objects.

use js_sys::{Array, Float32Array};
use wasm_bindgen::prelude::*;

use super::object;
use crate::search::{self, Entry, IndexInfo, Limits, ModelRef};

#[wasm_bindgen]
pub struct SearchIndex {
    inner: search::SearchIndex,
}

fn entry_object(e: &Entry) -> JsValue {
    object(&[
        ("path", e.path.as_str().into()),
        ("size", (e.size as f64).into()),
        ("modified", e.modified.into()),
    ])
}

#[wasm_bindgen]
impl SearchIndex {
    /// An empty index for embeddings of `dim` values from the model `modelName`
    /// whose file has SHA-256 `sha256`; word queries go through `template`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        model_name: String,
        sha256: String,
        root: String,
        template: String,
        dim: usize,
    ) -> Result<SearchIndex, JsError> {
        let info = IndexInfo { model: ModelRef { name: model_name, sha256 }, root, template };
        Ok(SearchIndex { inner: search::SearchIndex::new(info, dim)? })
    }

    /// An index file read back (untrusted: every count, size and path checked); `name` names it in errors.
    pub fn open(bytes: &[u8], name: &str) -> Result<SearchIndex, JsError> {
        Ok(SearchIndex { inner: search::SearchIndex::from_bytes(bytes, name, Limits::default())? })
    }

    /// `{ model: { name, sha256 }, root, template, dim, size }`.
    #[wasm_bindgen(getter)]
    pub fn info(&self) -> JsValue {
        let i = &self.inner.info;
        object(&[
            (
                "model",
                object(&[
                    ("name", i.model.name.as_str().into()),
                    ("sha256", i.model.sha256.as_str().into()),
                ]),
            ),
            ("root", i.root.as_str().into()),
            ("template", i.template.as_str().into()),
            ("dim", (self.inner.dim() as f64).into()),
            ("size", (self.inner.len() as f64).into()),
        ])
    }

    /// `[{ path, size, modified }]`, in index order.
    pub fn entries(&self) -> Array {
        self.inner.entries().iter().map(entry_object).collect()
    }

    /// Adds (or replaces) a picture with its image features.
    pub fn insert(
        &mut self,
        path: String,
        size: f64,
        modified: f64,
        embedding: &[f32],
    ) -> Result<(), JsError> {
        if !(0.0..=9e15).contains(&size) {
            return Err(JsError::new(&format!("{path}: a size of {size} bytes")));
        }
        let entry = Entry { path, size: size as u64, modified };
        Ok(self.inner.insert(entry, embedding)?)
    }

    /// What re-indexing a folder listed as `paths`, `sizes` and `modified` takes:
    /// `{ embed: [position in the listing], kept, dropped: [path] }`.
    pub fn changes(
        &self,
        paths: Vec<String>,
        sizes: Vec<f64>,
        modified: Vec<f64>,
    ) -> Result<JsValue, JsError> {
        if sizes.len() != paths.len() || modified.len() != paths.len() {
            return Err(JsError::new("a listing needs a size and a time per path"));
        }
        let listing: Vec<Entry> = paths
            .into_iter()
            .zip(sizes)
            .zip(modified)
            .map(|((path, size), modified)| Entry { path, size: size as u64, modified })
            .collect();
        let update = self.inner.update_for(&listing);
        let embed: Array = update.embed.iter().map(|&i| JsValue::from(i as f64)).collect();
        let dropped: Array = update.dropped.iter().map(|p| JsValue::from(p.as_str())).collect();
        Ok(object(&[
            ("embed", embed.into()),
            ("kept", (update.kept as f64).into()),
            ("dropped", dropped.into()),
        ]))
    }

    /// Removes these paths; how many were indexed.
    pub fn remove(&mut self, paths: Vec<String>) -> usize {
        self.inner.remove(&paths)
    }

    /// The stored embedding of `path`, if indexed ("more like this").
    pub fn embedding(&self, path: &str) -> Option<Float32Array> {
        self.inner.position(path).map(|i| Float32Array::from(self.inner.embedding(i).as_slice()))
    }

    /// `[{ path, score }]`, best first: the `top` pictures under `folder` nearest
    /// the query made of `parts` (text or image features, each counting equally).
    pub fn search(
        &self,
        parts: Vec<Float32Array>,
        top: usize,
        folder: &str,
    ) -> Result<Array, JsError> {
        let parts: Vec<Vec<f32>> = parts.iter().map(Float32Array::to_vec).collect();
        let query = search::combine(&parts.iter().map(Vec::as_slice).collect::<Vec<_>>())?;
        let hits = self.inner.rank(&query, top, folder)?;
        Ok(hits
            .iter()
            .map(|h| {
                object(&[
                    ("path", self.inner.entries()[h.index].path.as_str().into()),
                    ("score", h.score.into()),
                ])
            })
            .collect())
    }

    /// Groups of near-duplicate paths (cosine at least `threshold`), biggest first.
    pub fn duplicates(&self, threshold: f32) -> Result<Array, JsError> {
        let groups = self.inner.duplicates(threshold)?;
        Ok(groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|&i| JsValue::from(self.inner.entries()[i].path.as_str()))
                    .collect::<Array>()
            })
            .collect())
    }

    /// The subfolders pictures lie in (`""` for the top), sorted.
    pub fn folders(&self) -> Vec<String> {
        self.inner.folders()
    }

    /// The index file's bytes (`docs/search-index.md`).
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> Result<Vec<u8>, JsError> {
        Ok(self.inner.to_bytes()?)
    }

    /// The default near-duplicate threshold (as written, 0.95, not the f32's 0.949999988).
    #[wasm_bindgen(js_name = duplicateThreshold)]
    pub fn duplicate_threshold() -> f64 {
        search::DEFAULT_THRESHOLD.to_string().parse().unwrap_or(0.95)
    }
}
