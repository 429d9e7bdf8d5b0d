//! Which format each matrix of a model is packed in: the model's own, except
//! that q4 keeps a few matrices in q8 (mixed precision, as llama.cpp's Q4_K_M
//! keeps its most sensitive tensors at more bits). The rule is a function of
//! the tensor's Hugging Face name alone, so a model file needs no table of
//! formats: a reader knows each matrix's layout from the file's format.
//!
//! Which ones, and why (measured with `tools/quant_study.py`, cosine of q4
//! features to f32's; cost in a ViT-B/32 file at 0.5 more bytes per weight):
//! the matrices every token passes through once on the way in or out
//! (the patch embedding, both projections, SigLIP's heads) carry the error of a
//! whole tower into the features, and are small (ViT-B/32: 3.0 M weights,
//! 1.5 MB); the first encoder layer of each tower, whose error every later
//! layer carries on (ViT-B/32: 10.2 M weights, 5.1 MB). Random ViT-B/32
//! (tools/make_vitb32.py), images / texts: all q4 0.9895 / 0.9872; these
//! edges 0.9932 / 0.9903 (+1.5 MB); edges and first layers 0.9946 / 0.9931
//! (+6.6 MB, the 95 MB budget's best use among the policies the tool lists:
//! q/k projections everywhere cost 11.7 MB for 0.9932 / 0.9903). SigLIP's
//! text tower (full attention over 64 mostly padded positions) also keeps its
//! second layer: a random SigLIP B/16 (tools/make_random_siglip.py) gives all
//! q4 0.9745 / 0.9745, edges and first layers 0.9911 / 0.9883, with the second
//! text layer 0.9911 / 0.9903 (+3.5 MB on a 128 MB file); in CLIP the same
//! layer would take B/32 past 95 MB. See [`keeps_q8`] for the list.

use super::config::Family;
use crate::ops::WeightFormat;

/// Every matrix of these layers (attention's four, the MLP's two).
const FIRST_LAYERS: [&str; 2] = ["vision_model.encoder.layers.0.", "text_model.encoder.layers.0."];

/// SigLIP's too: its text tower's second layer.
const SIGLIP_LAYERS: [&str; 1] = ["text_model.encoder.layers.1."];

/// The format tensor `name` (a matrix) of a `family` model is packed in when
/// the model is in `format`.
pub fn matrix_format(format: WeightFormat, family: Family, name: &str) -> WeightFormat {
    match format {
        WeightFormat::Q4 if keeps_q8(family, name) => WeightFormat::Q8,
        other => other,
    }
}

/// Whether a q4 model keeps matrix `name` in q8. Never the token table: it is
/// read a row at a time by the text embeddings kernel of the model's own format
/// (and is 25 M weights, 12.6 MB more, in ViT-B/32).
fn keeps_q8(family: Family, name: &str) -> bool {
    let in_any = |layers: &[&str]| layers.iter().any(|layer| name.starts_with(layer));
    in_any(&FIRST_LAYERS)
        || (family == Family::Siglip && in_any(&SIGLIP_LAYERS))
        || matches!(
            name,
            "vision_model.embeddings.patch_embedding.weight"
                | "visual_projection.weight"
                | "text_projection.weight"
                | "vision_model.head.attention.in_proj_weight"
                | "vision_model.head.attention.out_proj.weight"
                | "vision_model.head.mlp.fc1.weight"
                | "vision_model.head.mlp.fc2.weight"
                | "text_model.head.weight"
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::{expected, Kind};
    use crate::model::ClipConfig;

    #[test]
    fn only_q4_mixes_and_never_the_token_table() {
        for config in [r#"{}"#, r#"{"model_type":"siglip"}"#] {
            let c = ClipConfig::from_json(config).unwrap();
            for e in expected(&c).iter().filter(|e| e.kind == Kind::Matrix) {
                for f in [WeightFormat::F32, WeightFormat::F16, WeightFormat::Q8] {
                    assert_eq!(matrix_format(f, c.family, &e.name), f, "{}", e.name);
                }
                if e.name.ends_with("token_embedding.weight") {
                    assert_eq!(
                        matrix_format(WeightFormat::Q4, c.family, &e.name),
                        WeightFormat::Q4
                    );
                }
            }
        }
        let q4 = |name| matrix_format(WeightFormat::Q4, Family::Clip, name);
        assert_eq!(q4("visual_projection.weight"), WeightFormat::Q8);
        assert_eq!(q4("text_model.encoder.layers.0.mlp.fc2.weight"), WeightFormat::Q8);
        assert_eq!(q4("vision_model.encoder.layers.0.self_attn.q_proj.weight"), WeightFormat::Q8);
        assert_eq!(q4("vision_model.encoder.layers.1.self_attn.q_proj.weight"), WeightFormat::Q4);
        assert_eq!(q4("text_model.encoder.layers.10.mlp.fc1.weight"), WeightFormat::Q4);
        assert_eq!(q4("text_model.encoder.layers.1.mlp.fc1.weight"), WeightFormat::Q4);
        let siglip = |name| matrix_format(WeightFormat::Q4, Family::Siglip, name);
        assert_eq!(siglip("text_model.encoder.layers.1.mlp.fc1.weight"), WeightFormat::Q8);
        assert_eq!(siglip("vision_model.encoder.layers.1.mlp.fc1.weight"), WeightFormat::Q4);
        assert_eq!(siglip("text_model.head.weight"), WeightFormat::Q8);
    }
}
