//! What a CLIP or SigLIP checkpoint holds, from its config alone: every tensor's Hugging
//! Face name and shape, and how the kernels read it ([`Kind`]). The one list
//! that loading (`weights.rs`), the model file's layout (`model_file.rs`) and
//! `webclip convert` all check against, with the two exceptions real exports
//! need ([`shape_fits`], [`is_ignored`]).

use super::config::{ClipConfig, Family, TowerConfig};

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
/// projections (SigLIP: the heads' linear layers) and the token table.
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
                | "vision_model.head.attention.in_proj_weight"
                | "vision_model.head.attention.out_proj.weight"
                | "vision_model.head.mlp.fc1.weight"
                | "vision_model.head.mlp.fc2.weight"
                | "text_model.head.weight"
        )
}

/// Whether tensor `name`, which the config says is `implied`, may be stored
/// with `shape`: the same shape, or for the scalars `logit_scale` and
/// `logit_bias`, `[1]` as some exports (and SigLIP) store them.
pub fn shape_fits(name: &str, implied: &[usize], shape: &[usize]) -> bool {
    shape == implied || (matches!(name, "logit_scale" | "logit_bias") && shape == [1])
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
    match c.family {
        Family::Clip => clip_tensors(c, &mut add),
        Family::Siglip => siglip_tensors(c, &mut add),
    }
    let (v, t) = (&c.vision, &c.text);
    for (prefix, tower) in [("vision_model.encoder", &v.tower), ("text_model.encoder", &t.tower)] {
        layer_tensors(prefix, tower, &mut add);
    }
    out
}

/// CLIP's tensors outside the encoder layers.
fn clip_tensors(c: &ClipConfig, add: &mut impl FnMut(String, Vec<usize>)) {
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
}

/// SigLIP's tensors outside the encoder layers (transformers' `SiglipModel`):
/// the patch convolution has a bias and there is no class token nor
/// pre-LayerNorm; the vision head is an attention probe (`torch.nn.MultiheadAttention`'s
/// fused `in_proj`), a LayerNorm and an MLP; the text head a Linear with bias.
fn siglip_tensors(c: &ClipConfig, add: &mut impl FnMut(String, Vec<usize>)) {
    let (v, t) = (&c.vision, &c.text);
    let (dv, dt, fv) = (v.tower.width, t.tower.width, v.tower.intermediate);
    let e = "vision_model.embeddings";
    add(format!("{e}.patch_embedding.weight"), vec![dv, v.channels, v.patch_size, v.patch_size]);
    add(format!("{e}.patch_embedding.bias"), vec![dv]);
    add(format!("{e}.position_embedding.weight"), vec![v.tokens(), dv]);
    let h = "vision_model.head";
    add(format!("{h}.probe"), vec![1, 1, dv]);
    add(format!("{h}.attention.in_proj_weight"), vec![3 * dv, dv]);
    add(format!("{h}.attention.in_proj_bias"), vec![3 * dv]);
    for (name, n, k) in [("attention.out_proj", dv, dv), ("mlp.fc1", fv, dv), ("mlp.fc2", dv, fv)] {
        add(format!("{h}.{name}.weight"), vec![n, k]);
        add(format!("{h}.{name}.bias"), vec![n]);
    }
    for ln in ["vision_model.post_layernorm", "vision_model.head.layernorm"] {
        add(format!("{ln}.weight"), vec![dv]);
        add(format!("{ln}.bias"), vec![dv]);
    }
    add("text_model.embeddings.token_embedding.weight".into(), vec![t.vocab_size, dt]);
    add("text_model.embeddings.position_embedding.weight".into(), vec![t.max_positions, dt]);
    add("text_model.final_layer_norm.weight".into(), vec![dt]);
    add("text_model.final_layer_norm.bias".into(), vec![dt]);
    add("text_model.head.weight".into(), vec![c.projection_dim, dt]);
    add("text_model.head.bias".into(), vec![c.projection_dim]);
    add("logit_scale".into(), vec![]);
    add("logit_bias".into(), vec![]);
}

/// One encoder's layers: the same names in CLIP and SigLIP.
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

    #[test]
    fn siglip_tensors_follow_its_config() {
        let c = ClipConfig::from_json(r#"{"model_type":"siglip"}"#).unwrap();
        let all = expected(&c);
        // 24 layers of 16, 22 more (embeddings 3, head 11, post_layernorm 2, text 6), 2 scalars.
        assert_eq!(all.len(), 24 * 16 + 22 + 2);
        let shape = |n: &str| all.iter().find(|e| e.name == n).map(|e| e.shape.clone());
        assert_eq!(
            shape("vision_model.embeddings.position_embedding.weight"),
            Some(vec![196, 768])
        );
        assert_eq!(shape("vision_model.head.attention.in_proj_weight"), Some(vec![2304, 768]));
        assert_eq!(shape("vision_model.embeddings.class_embedding"), None);
        assert!(is_matrix("text_model.head.weight") && !is_matrix("vision_model.head.probe"));
        assert!(shape_fits("logit_bias", &[], &[1]));
    }
}
