//! The text tower: token + position embeddings → transformer →
//! `final_layer_norm` at the pooled token → projection. CLIP: a causal mask,
//! pooled at the end-of-text token, `text_projection`. SigLIP: texts padded to
//! the model's length, no mask, pooled at the last position, `text_model.head`
//! (with a bias).

use crate::engine::{Engine, Mask, Rows};
use crate::error::{Error, Result};
use crate::tokenizer::eos_position;

use super::config::{Family, TextConfig};
use super::encoder::{Activations, Encoder, LastBlock};
use super::head::{Head, HeadNames};
use super::weights::Weights;

pub struct TextTower<E: Engine> {
    pub config: TextConfig,
    /// Tokens per pass, at least one full-length text.
    pub max_rows: usize,
    ids: E::Tensor,
    embeddings: E::Stage,
    encoder: Encoder<E>,
    pub head: Head<E>,
}

impl<E: Engine> TextTower<E> {
    /// Reads the tower's tensors from `w` and binds them, a block at a time;
    /// `max_rows` tokens per pass: at most that many texts of one token and more;
    /// `act` fits that many rows (`Activations::new`).
    pub async fn new(
        e: &E,
        c: &TextConfig,
        w: &Weights<'_>,
        projection_dim: usize,
        max_rows: usize,
        act: &Activations<E>,
    ) -> Result<TextTower<E>> {
        // In the file's order (sorted by name), so a streamed read never goes back.
        let positions = w.get("text_model.embeddings.position_embedding.weight").await?;
        let table = w.matrix("text_model.embeddings.token_embedding.weight").await?;
        let (ids, embeddings) = e
            .checked("uploading the token table", || {
                let ids = e.scratch("token ids", max_rows);
                let positions = e.vector("text position_embedding.weight", &positions);
                let mut embeddings = e.stage("text_model.embeddings");
                e.token_embeddings(&mut embeddings, &ids, &table, &positions, &act.stream);
                (ids, embeddings)
            })
            .await?;
        drop(table);
        let (prefix, last) = ("text_model.encoder", LastBlock::Plain);
        let (mask, names) = match c.family {
            Family::Clip => (
                Mask::Causal,
                HeadNames {
                    layernorm: "text_model.final_layer_norm",
                    projection: "text_projection.weight",
                    bias: None,
                },
            ),
            Family::Siglip => (
                Mask::Full,
                HeadNames {
                    layernorm: "text_model.final_layer_norm",
                    projection: "text_model.head.weight",
                    bias: Some("text_model.head.bias"),
                },
            ),
        };
        let encoder = Encoder::new(e, &c.tower, w, prefix, act, mask, last).await?;
        let rows = max_rows;
        let head =
            Head::read(e, w, &act.stream, names, &c.tower, projection_dim, rows, None).await?;
        Ok(TextTower { config: c.clone(), max_rows, ids, embeddings, encoder, head })
    }

    /// Checks token ids against the model before anything is uploaded.
    pub fn check_ids(&self, ids: &[Vec<u32>]) -> Result<()> {
        let c = &self.config;
        for (i, seq) in ids.iter().enumerate() {
            // SigLIP reads every position with no mask: its texts are padded to their full length.
            if c.family == Family::Siglip && seq.len() != c.max_positions {
                return Err(Error::Input(format!(
                    "text {i}: {} tokens, SigLIP takes texts padded to exactly {}",
                    seq.len(),
                    c.max_positions
                )));
            }
            if seq.is_empty() || seq.len() > self.config.max_positions {
                return Err(Error::Input(format!(
                    "text {i}: {} tokens, the model takes 1 to {}",
                    seq.len(),
                    self.config.max_positions
                )));
            }
            if let Some(bad) = seq.iter().find(|&&t| t as usize >= self.config.vocab_size) {
                return Err(Error::Input(format!(
                    "text {i}: token id {bad} is outside the vocabulary ({})",
                    self.config.vocab_size
                )));
            }
        }
        Ok(())
    }

    /// Writes id sequences (checked with `check_ids`; texts × longest ≤
    /// `max_rows`) and records the tower. CLIP's sequences are padded with
    /// end-of-text to the longest one: the causal mask keeps padding out of
    /// every pooled token. SigLIP's are all full length already.
    pub fn record(&self, e: &E, pass: &mut E::Pass<'_>, ids: &[Vec<u32>]) {
        let batch = ids.len();
        let seq = ids.iter().map(Vec::len).max().unwrap_or(1);
        let mut flat = vec![crate::tokenizer::END_OF_TEXT; batch * seq];
        for (b, s) in ids.iter().enumerate() {
            flat[b * seq..b * seq + s.len()].copy_from_slice(s);
        }
        e.write(pass, &self.ids, &flat);
        let rows = Rows { batch, seq };
        e.record(pass, &self.embeddings, rows);
        self.encoder.record(e, pass, rows);
        let pooled_at = |s: &[u32]| match self.config.family {
            Family::Clip => eos_position(s),
            Family::Siglip => s.len() - 1,
        };
        let pooled: Vec<u32> =
            ids.iter().enumerate().map(|(b, s)| (b * seq + pooled_at(s)) as u32).collect();
        self.head.record(e, pass, &pooled);
    }
}
