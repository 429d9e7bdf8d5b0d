//! Embeddings of prompts already encoded, per model, so that classifying a
//! second image with the same labels runs no text pass. Keyed by the final
//! prompt (the template filled in), bounded, least recently used out first.

use std::collections::HashMap;

use crate::error::Result;

use super::{scores, ClipModel};

/// Prompts kept by default: 4,096 × 512 floats is 8 MiB for ViT-B/32.
pub const DEFAULT_CAPACITY: usize = 4096;

pub struct PromptCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (Vec<f32>, u64)>,
}

impl Default for PromptCache {
    fn default() -> PromptCache {
        PromptCache::new(DEFAULT_CAPACITY)
    }
}

impl PromptCache {
    pub fn new(capacity: usize) -> PromptCache {
        PromptCache { capacity: capacity.max(1), tick: 0, entries: HashMap::new() }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The embedding of `prompt`, marking it as just used.
    pub fn get(&mut self, prompt: &str) -> Option<Vec<f32>> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(prompt).map(|(embedding, used)| {
            *used = tick;
            embedding.clone()
        })
    }

    /// Stores `embedding`, evicting the least recently used entry when full.
    pub fn insert(&mut self, prompt: String, embedding: Vec<f32>) {
        self.tick += 1;
        if !self.entries.contains_key(&prompt) && self.entries.len() >= self.capacity {
            if let Some(oldest) =
                self.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone())
            {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(prompt, (embedding, self.tick));
    }

    /// Unit-length embeddings of every prompt of `labels` × `templates`
    /// (label-major, as [`ClipModel::embed_prompts`]), encoding in one call
    /// only those not cached. Returns them and how many were encoded.
    pub async fn embed_prompts(
        &mut self,
        model: &ClipModel,
        labels: &[String],
        templates: &[String],
    ) -> Result<(Vec<Vec<f32>>, usize)> {
        self.embed_prompts_reporting(model, labels, templates, &|_, _| {}).await
    }

    /// [`PromptCache::embed_prompts`], calling `progress(encoded, to_encode)`
    /// after each text pass.
    pub async fn embed_prompts_reporting(
        &mut self,
        model: &ClipModel,
        labels: &[String],
        templates: &[String],
        progress: &dyn Fn(usize, usize),
    ) -> Result<(Vec<Vec<f32>>, usize)> {
        scores::check_inputs(labels, templates)?;
        let prompts = scores::prompts(labels, templates);
        let mut found: Vec<Option<Vec<f32>>> = prompts.iter().map(|p| self.get(p)).collect();
        let mut missing: Vec<&str> = prompts
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(p, _)| p.as_str())
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            let ids = model.tokenize(&missing)?;
            let encoded = model
                .embed_ids_reporting(&ids, &|done| progress(done, missing.len()))
                .await?
                .unit();
            let fresh: HashMap<&str, Vec<f32>> = missing.iter().copied().zip(encoded).collect();
            for (prompt, slot) in prompts.iter().zip(&mut found) {
                if slot.is_none() {
                    *slot = Some(fresh[prompt.as_str()].clone());
                }
            }
            for (prompt, embedding) in fresh {
                self.insert(prompt.to_string(), embedding);
            }
        }
        Ok((found.into_iter().map(|f| f.unwrap_or_default()).collect(), missing.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_goes_first() {
        let mut cache = PromptCache::new(2);
        cache.insert("a".into(), vec![1.0]);
        cache.insert("b".into(), vec![2.0]);
        assert_eq!(cache.get("a"), Some(vec![1.0])); // "b" is now the oldest
        cache.insert("c".into(), vec![3.0]);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("b"), None);
        assert_eq!(cache.get("a"), Some(vec![1.0]));
        assert_eq!(cache.get("c"), Some(vec![3.0]));
        // Re-inserting a present key evicts nothing.
        cache.insert("c".into(), vec![4.0]);
        assert_eq!(
            (cache.len(), cache.get("a"), cache.get("c")),
            (2, Some(vec![1.0]), Some(vec![4.0]))
        );
    }
}
