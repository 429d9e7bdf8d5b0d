//! The text tower: token + position embeddings → causal transformer →
//! `final_layer_norm` at the end-of-text token → `text_projection`.

use crate::error::{Error, Result};
use crate::gpu::{Gpu, Step, Uniform};
use crate::ops::embeddings::{self, TableChunk, TextEmbeddingsParams};
use crate::ops::Kernels;
use crate::tokenizer::eos_position;

use super::config::TextConfig;
use super::encoder::{Activations, Encoder, Head};
use super::weights::Weights;

/// One slice of the token table small enough for a storage binding.
struct TableSlice {
    chunk: TableChunk,
    shape: Uniform<TextEmbeddingsParams>,
    gather: Step,
    _rows: crate::gpu::GpuBuffer,
}

pub struct TextTower {
    pub config: TextConfig,
    /// Tokens per pass, at least one full-length text.
    pub max_rows: usize,
    ids: crate::gpu::GpuBuffer,
    table: Vec<TableSlice>,
    encoder: Encoder,
    pub head: Head,
    _positions: crate::gpu::GpuBuffer,
}

impl TextTower {
    /// Reads the tower's tensors from `w` and uploads them, a block at a time;
    /// `max_rows` tokens per pass: at most that many texts of one token and more;
    /// `act` fits that many rows (`Activations::new`).
    pub async fn new(
        gpu: &Gpu,
        k: &Kernels,
        c: &TextConfig,
        w: &Weights<'_>,
        projection_dim: usize,
        max_rows: usize,
        act: &Activations,
    ) -> Result<TextTower> {
        let d = c.tower.width;
        let ids = gpu.scratch("token ids", max_rows);
        let stream = &act.stream;
        // In the file's order (sorted by name), so a streamed read never goes back.
        let positions = w.get("text_model.embeddings.position_embedding.weight").await?;
        let token_embedding = w.matrix("text_model.embeddings.token_embedding.weight").await?;
        let (positions, table) = gpu
            .checked("uploading the token table", || {
                let positions = gpu.upload("text position_embedding.weight", &positions);
                let table = embeddings::table_chunks(
                    c.vocab_size,
                    d,
                    gpu.max_binding_bytes(),
                    token_embedding.format,
                )
                .into_iter()
                .map(|chunk| {
                    let label = "token_embedding.weight";
                    // One chunk is the whole table: no copy.
                    let rows = if chunk.count == c.vocab_size {
                        token_embedding.upload(gpu, label)
                    } else {
                        token_embedding
                            .slice_columns(chunk.first_id, chunk.count)
                            .upload(gpu, label)
                    };
                    let shape = Uniform::new(
                        gpu,
                        "text embeddings shape",
                        &TextEmbeddingsParams::new(0, 0, d, chunk),
                    );
                    let gather = embeddings::bind_text(
                        &k.text_embeddings,
                        gpu,
                        &shape,
                        &ids,
                        &rows,
                        &positions,
                        stream,
                    );
                    TableSlice { chunk, shape, gather, _rows: rows }
                })
                .collect::<Vec<_>>();
                (positions, table)
            })
            .await?;
        drop(token_embedding);
        let encoder = Encoder::new(gpu, k, &c.tower, w, "text_model.encoder", act, true).await?;
        let head = Head::read(
            gpu,
            k,
            w,
            stream,
            "text_model.final_layer_norm",
            "text_projection.weight",
            &c.tower,
            projection_dim,
            max_rows,
        )
        .await?;
        Ok(TextTower {
            encoder,
            head,
            config: c.clone(),
            max_rows,
            ids,
            table,
            _positions: positions,
        })
    }

    /// Checks token ids against the model before anything is uploaded.
    pub fn check_ids(&self, ids: &[Vec<u32>]) -> Result<()> {
        for (i, seq) in ids.iter().enumerate() {
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

    /// Uploads id sequences (checked with `check_ids`; texts × longest ≤ `max_rows`) and records
    /// the tower into `pass`. Sequences are padded with end-of-text to the longest
    /// one: the causal mask keeps padding out of every pooled token.
    pub fn record(&self, gpu: &Gpu, pass: &mut wgpu::ComputePass<'_>, ids: &[Vec<u32>]) {
        let (batch, d) = (ids.len(), self.config.tower.width);
        let seq = ids.iter().map(Vec::len).max().unwrap_or(1);
        let mut flat = vec![crate::tokenizer::END_OF_TEXT; batch * seq];
        for (b, s) in ids.iter().enumerate() {
            flat[b * seq..b * seq + s.len()].copy_from_slice(s);
        }
        gpu.queue.write_buffer(&self.ids, 0, bytemuck::cast_slice(&flat));
        for slice in &self.table {
            let params = TextEmbeddingsParams::new(batch, seq, d, slice.chunk);
            slice.shape.write(gpu, &params);
            slice.gather.dispatch_over(pass, params.extent());
        }
        self.encoder.record(gpu, pass, batch, seq);
        let pooled: Vec<u32> =
            ids.iter().enumerate().map(|(b, s)| (b * seq + eos_position(s)) as u32).collect();
        self.head.record(gpu, pass, &pooled);
    }
}
