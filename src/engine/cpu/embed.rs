//! The CPU engine's gathers and copies around the matmuls: a ViT's class token
//! and positions, text token rows and positions, and the rows a head pools (its
//! patches are `kernels/im2col.rs`). Memory-bound and small next to the matmuls (a
//! ViT-B/32 image moves about 1 MB through them), so plain loops; the layouts
//! are those of the WGSL kernels of `src/ops/embeddings.rs` and `pooling.rs`.

use crate::ops::format::PackedWeight;

/// Per image: the class embedding (where there is one) then its patch embeddings,
/// each plus its position (rows of `width`, `tokens` per image).
pub fn vision_embeddings(
    patch_embeds: &[f32],
    class: Option<&[f32]>,
    positions: &[f32],
    batch: usize,
    tokens: usize,
    width: usize,
    out: &mut [f32],
) {
    let class_tokens = usize::from(class.is_some());
    let patches = tokens - class_tokens;
    for b in 0..batch {
        for t in 0..tokens {
            let from = match (t.checked_sub(class_tokens), class) {
                (Some(patch), _) => &patch_embeds[(b * patches + patch) * width..][..width],
                (None, Some(class)) => class,
                (None, None) => unreachable!("no class row without a class token"),
            };
            let row = &mut out[(b * tokens + t) * width..][..width];
            for ((o, &v), &p) in row.iter_mut().zip(from).zip(&positions[t * width..]) {
                *o = v + p;
            }
        }
    }
}

/// Row `ids[r]` of the token table (`[vocab, width]`, packed in any format and
/// unpacked one row at a time) plus the position of `r` in its sequence of `seq`.
pub fn token_embeddings(
    ids: &[u32],
    table: &PackedWeight,
    positions: &[f32],
    seq: usize,
    out: &mut [f32],
) {
    let width = table.k;
    for (r, (&id, row)) in ids.iter().zip(out.chunks_exact_mut(width)).enumerate() {
        table.column_into(id as usize, row);
        for (o, &p) in row.iter_mut().zip(&positions[(r % seq) * width..][..width]) {
            *o += p;
        }
    }
}

/// Rows `index[i]` of `x` (rows of `width`) into `out`.
pub fn gather_rows(index: &[u32], x: &[f32], width: usize, out: &mut [f32]) {
    for (&i, row) in index.iter().zip(out.chunks_exact_mut(width)) {
        row.copy_from_slice(&x[i as usize * width..][..width]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::random;
    use crate::ops::format::WeightFormat;

    #[test]
    fn vision_embeddings_put_the_class_token_first_and_add_positions() {
        let (tokens, width) = (3, 2);
        let patch_embeds = [1.0, 2.0, 3.0, 4.0, /* image 1 */ 5.0, 6.0, 7.0, 8.0];
        let (class, positions) = ([10.0, 20.0], [0.5, 0.25, 100.0, 200.0, 1000.0, 2000.0]);
        let mut out = [f32::NAN; 12];
        vision_embeddings(&patch_embeds, Some(&class), &positions, 2, tokens, width, &mut out);
        #[rustfmt::skip]
        let want = [10.5, 20.25, 101.0, 202.0, 1003.0, 2004.0,
                    10.5, 20.25, 105.0, 206.0, 1007.0, 2008.0];
        assert_eq!(out, want);
        // SigLIP: no class token, the patches take positions 0 and 1.
        let mut out = [f32::NAN; 8];
        vision_embeddings(&patch_embeds, None, &positions, 2, 2, width, &mut out);
        assert_eq!(out, [1.5, 2.25, 103.0, 204.0, 5.5, 6.25, 107.0, 208.0]);
    }

    #[test]
    fn token_rows_are_the_tables_rows_in_every_format_plus_positions() {
        let (vocab, width, seq) = (37, 40, 2);
        let table = random(vocab * width, 5, 1.0);
        let positions = random(seq * width, 6, 1.0);
        let ids = [36u32, 0, 17, 17];
        for format in WeightFormat::ALL {
            let packed = PackedWeight::pack(format, &table, vocab, width);
            let rows = packed.dequantize();
            let mut out = vec![f32::NAN; ids.len() * width];
            token_embeddings(&ids, &packed, &positions, seq, &mut out);
            for (r, &id) in ids.iter().enumerate() {
                for c in 0..width {
                    let want = rows[id as usize * width + c] + positions[(r % seq) * width + c];
                    assert_eq!(out[r * width + c], want, "{format:?} row {r} col {c}");
                }
            }
        }
    }

    #[test]
    fn gathered_rows_are_the_indexed_rows() {
        let x = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0];
        let mut out = [f32::NAN; 4];
        gather_rows(&[2, 0], &x, 2, &mut out);
        assert_eq!(out, [20.0, 21.0, 0.0, 1.0]);
    }
}
