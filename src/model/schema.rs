//! What a CLIP checkpoint holds, from its config alone: every tensor's Hugging
//! Face name and shape, and how the kernels read it ([`Kind`]). The one list
//! that loading (`weights.rs`), the model file's layout (`model_file.rs`) and
//! `webclip convert` all check against, with the two exceptions real exports
//! need ([`shape_fits`], [`is_ignored`]).

use super::config::{ClipConfig, TowerConfig};

/// How the kernels read a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Read as f32 as it is (LayerNorms, biases, positions, `logit_scale`).
    Small,
    /// Multiplied by: packed in the weight format ([`is_matrix`]).
    Matrix,
}

/// One tensor a CLIP checkpoint must hold.
#[derive(Clone, Debug)]
pub struct Expected {
    pub name: String,
    pub shape: Vec<usize>,
    pub kind: Kind,
}

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

/// Whether tensor `name`, which the config says is `implied`, may be stored
/// with `shape`: the same shape, or for `logit_scale`, `[1]` as some exports store it.
pub fn shape_fits(name: &str, implied: &[usize], shape: &[usize]) -> bool {
    shape == implied || (name == "logit_scale" && shape == [1])
}

/// Tensors a checkpoint may hold beyond [`expected`], never read:
/// `position_ids` buffers, which older transformers versions saved.
pub fn is_ignored(name: &str) -> bool {
    name.ends_with("position_ids")
}

/// Every tensor `config` implies, with its Hugging Face name and shape.
pub fn expected(c: &ClipConfig) -> Vec<Expected> {
    let mut out = Vec::new();
    let mut add = |name: String, shape: Vec<usize>| {
        let kind = if is_matrix(&name) { Kind::Matrix } else { Kind::Small };
        out.push(Expected { name, shape, kind });
    };
    let (v, t) = (&c.vision, &c.text);
    let (dv, dt) = (v.tower.width, t.tower.width);
    add(
        "vision_model.embeddings.patch_embedding.weight".into(),
        vec![dv, v.channels, v.patch_size, v.patch_size],
    );
    add("vision_model.embeddings.class_embedding".into(), vec![dv]);
    add("vision_model.embeddings.position_embedding.weight".into(), vec![v.tokens(), dv]);
    for ln in ["vision_model.pre_layrnorm", "vision_model.post_layernorm"] {
        add(format!("{ln}.weight"), vec![dv]);
        add(format!("{ln}.bias"), vec![dv]);
    }
    add("visual_projection.weight".into(), vec![c.projection_dim, dv]);
    add("text_model.embeddings.token_embedding.weight".into(), vec![t.vocab_size, dt]);
    add("text_model.embeddings.position_embedding.weight".into(), vec![t.max_positions, dt]);
    add("text_model.final_layer_norm.weight".into(), vec![dt]);
    add("text_model.final_layer_norm.bias".into(), vec![dt]);
    add("text_projection.weight".into(), vec![c.projection_dim, dt]);
    add("logit_scale".into(), vec![]);
    for (prefix, tower) in [("vision_model.encoder", &v.tower), ("text_model.encoder", &t.tower)] {
        layer_tensors(prefix, tower, &mut add);
    }
    out
}

fn layer_tensors(prefix: &str, c: &TowerConfig, add: &mut impl FnMut(String, Vec<usize>)) {
    let (d, f) = (c.width, c.intermediate);
    for i in 0..c.layers {
        let p = format!("{prefix}.layers.{i}");
        for (name, n, k) in [
            ("self_attn.q_proj", d, d),
            ("self_attn.k_proj", d, d),
            ("self_attn.v_proj", d, d),
            ("self_attn.out_proj", d, d),
            ("mlp.fc1", f, d),
            ("mlp.fc2", d, f),
        ] {
            add(format!("{p}.{name}.weight"), vec![n, k]);
            add(format!("{p}.{name}.bias"), vec![n]);
        }
        for ln in ["layer_norm1", "layer_norm2"] {
            add(format!("{p}.{ln}.weight"), vec![d]);
            add(format!("{p}.{ln}.bias"), vec![d]);
        }
    }
}

/// `[n, k]` of a matrix stored with `shape` (a convolution's kernel flattened).
pub fn matrix_dims(shape: &[usize]) -> (usize, usize) {
    (shape.first().copied().unwrap_or(1), shape.iter().skip(1).product())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn expected_tensors_follow_the_config() {
        let c = ClipConfig::from_json("{}").unwrap();
        let all = expected(&c);
        // ViT-B/32 defaults: 12 + 12 layers of 16 tensors, 13 more, and logit_scale.
        assert_eq!(all.len(), 24 * 16 + 13 + 1);
        let matrices: usize = all
            .iter()
            .filter(|e| e.kind == Kind::Matrix)
            .map(|e| e.shape.iter().product::<usize>())
            .sum();
        // 12 · (4 · 768² + 2 · 768 · 3072) + 768 · 3072 + 512 · 768
        //   + 12 · (4 · 512² + 2 · 512 · 2048) + 49408 · 512 + 512 · 512
        assert_eq!(matrices, 150_994_944);
        let logit_scale = all.iter().find(|e| e.name == "logit_scale").unwrap();
        assert!(shape_fits("logit_scale", &logit_scale.shape, &[1]));
        assert!(!shape_fits(&all[1].name, &all[1].shape, &[1]));
        assert!(is_ignored("text_model.embeddings.position_ids"));
    }
}
