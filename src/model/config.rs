//! `config.json` of a Hugging Face `CLIPModel` or `SiglipModel` ([`Family`]), with
//! transformers' defaults for anything the file leaves out (`CLIPConfig()` is
//! ViT-B/32, `SiglipConfig()` SigLIP base/16 at 224 px).

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ops::attention;
use crate::ops::Activation;
use crate::tokenizer::{CONTEXT_LENGTH, VOCAB_SIZE};

/// Which contrastive model a checkpoint is: what its towers pool and how its
/// scores are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// OpenAI's CLIP (and OpenCLIP's in Hugging Face layout): a class token and a
    /// pre-LayerNorm in the vision tower, causal text pooled at its end-of-text
    /// token, projections without bias, a softmax over the labels.
    Clip,
    /// Google's SigLIP and SigLIP 2: patches only, pooled by an attention probe
    /// (`vision_model.head`); bidirectional text padded to its full length and
    /// pooled at the last position, then `text_model.head`; a sigmoid per label.
    Siglip,
}

impl Family {
    /// The name `config.json`'s `model_type` gives it.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Clip => "clip",
            Family::Siglip => "siglip",
        }
    }
}

/// What the two transformer towers share.
#[derive(Clone, Debug, PartialEq)]
pub struct TowerConfig {
    pub width: usize,
    pub intermediate: usize,
    pub heads: usize,
    pub layers: usize,
    pub eps: f64,
    pub act: Activation,
}

impl TowerConfig {
    pub fn head_dim(&self) -> usize {
        self.width / self.heads
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct VisionConfig {
    pub tower: TowerConfig,
    pub image_size: usize,
    pub patch_size: usize,
    pub channels: usize,
    pub family: Family,
}

impl VisionConfig {
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
    /// 1 for CLIP's class token, 0 for SigLIP (patches only).
    pub fn class_tokens(&self) -> usize {
        usize::from(self.family == Family::Clip)
    }
    /// Patches plus the class token where there is one. Saturating:
    /// [`ClipConfig::from_json`] checks this against the attention kernel's
    /// limit, and an absurd `image_size` must fail that check, not overflow before it.
    pub fn tokens(&self) -> usize {
        self.grid().saturating_mul(self.grid()).saturating_add(self.class_tokens())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TextConfig {
    pub tower: TowerConfig,
    pub vocab_size: usize,
    pub max_positions: usize,
    pub family: Family,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClipConfig {
    pub family: Family,
    pub vision: VisionConfig,
    pub text: TextConfig,
    /// The features' length: CLIP's `projection_dim`; SigLIP's vision width, which
    /// its text head (`text_config.projection_size`) must map to.
    pub projection_dim: usize,
}

/// The most layers a tower may have. Every tensor a config implies is listed
/// (`schema::expected`, which uses this module) before a file is checked against it,
/// so a count no file could hold would take all memory first; real CLIP
/// towers have 12 to 48 layers.
pub const MAX_LAYERS: usize = 1000;

/// The most values one tensor a config implies may hold: 2^34 (64 GB in f32)
/// on 64-bit targets, 2^28 (1 GB in f32, the most wasm32 could hold) on
/// 32-bit ones; far past any CLIP either way (ViT-L/14's largest is 38 M).
pub const MAX_TENSOR_ELEMENTS: u64 = if usize::BITS >= 64 { 1 << 34 } else { 1 << 28 };

#[derive(Deserialize, Default)]
struct RawTower {
    hidden_size: Option<usize>,
    intermediate_size: Option<usize>,
    num_attention_heads: Option<usize>,
    num_hidden_layers: Option<usize>,
    layer_norm_eps: Option<f64>,
    hidden_act: Option<String>,
    image_size: Option<usize>,
    patch_size: Option<usize>,
    num_channels: Option<usize>,
    vocab_size: Option<usize>,
    max_position_embeddings: Option<usize>,
    projection_size: Option<usize>,
    vision_use_head: Option<bool>,
}

#[derive(Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    text_config: Option<RawTower>,
    vision_config: Option<RawTower>,
    projection_dim: Option<usize>,
}

impl ClipConfig {
    pub fn from_json(text: &str) -> Result<ClipConfig> {
        let raw: RawConfig = serde_json::from_str(text)
            .map_err(|e| Error::Config(format!("config.json is not valid: {e}")))?;
        let family = match raw.model_type.as_deref() {
            None | Some("clip") => Family::Clip,
            Some("siglip") => Family::Siglip,
            Some(kind) => {
                return Err(Error::Config(format!(
                    "config.json has model_type \"{kind}\", expected \"clip\" or \"siglip\""
                )))
            }
        };
        let v = raw.vision_config.unwrap_or_default();
        let t = raw.text_config.unwrap_or_default();
        let config = match family {
            Family::Clip => ClipConfig {
                family,
                vision: VisionConfig {
                    tower: tower("vision_config", &v, (768, 3072, 12, 12), CLIP_TOWER)?,
                    image_size: v.image_size.unwrap_or(224),
                    patch_size: v.patch_size.unwrap_or(32),
                    channels: v.num_channels.unwrap_or(3),
                    family,
                },
                text: TextConfig {
                    tower: tower("text_config", &t, (512, 2048, 8, 12), CLIP_TOWER)?,
                    vocab_size: t.vocab_size.unwrap_or(VOCAB_SIZE),
                    max_positions: t.max_position_embeddings.unwrap_or(CONTEXT_LENGTH),
                    family,
                },
                projection_dim: raw.projection_dim.unwrap_or(512),
            },
            Family::Siglip => siglip(&v, &t)?,
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        let v = &self.vision;
        if v.patch_size == 0 || v.image_size < v.patch_size {
            return Err(Error::Config(format!(
                "vision_config: patch_size {} does not fit image_size {}",
                v.patch_size, v.image_size
            )));
        }
        if v.channels != 3 {
            return Err(Error::Config(format!(
                "vision_config.num_channels is {}; CLIP images are RGB (3)",
                v.channels
            )));
        }
        let positive = [
            ("text_config.vocab_size", self.text.vocab_size),
            ("text_config.max_position_embeddings", self.text.max_positions),
            ("projection_dim", self.projection_dim),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(Error::Config(format!("{name} must be positive")));
        }
        attention::check_fits("vision_config", v.tokens(), v.tower.head_dim())?;
        attention::check_fits("text_config", self.text.max_positions, self.text.tower.head_dim())?;
        // The largest tensors the config implies, counted without overflow
        // before anything is sized from them (a config may claim anything).
        let (t, dv, dt) = (&self.text, v.tower.width, self.text.tower.width);
        let tensors = [
            (
                "vision_model.embeddings.patch_embedding.weight",
                &[dv, v.channels, v.patch_size, v.patch_size][..],
            ),
            ("vision_model.embeddings.position_embedding.weight", &[v.tokens(), dv]),
            ("vision_config mlp.fc1.weight", &[v.tower.intermediate, dv]),
            ("text_model.embeddings.token_embedding.weight", &[t.vocab_size, dt]),
            ("text_model.embeddings.position_embedding.weight", &[t.max_positions, dt]),
            ("text_config mlp.fc1.weight", &[t.tower.intermediate, dt]),
            ("visual_projection.weight", &[self.projection_dim, dv]),
            ("text_projection.weight", &[self.projection_dim, dt]),
        ];
        for (name, shape) in tensors {
            let count = shape
                .iter()
                .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
                .filter(|&n| n <= MAX_TENSOR_ELEMENTS);
            if count.is_none() {
                return Err(Error::Config(format!("{name} would be {shape:?}, more than the {MAX_TENSOR_ELEMENTS} values a tensor may hold")));
            }
        }
        Ok(())
    }
}

/// What a family's towers take when the file does not say: activation and LayerNorm eps.
struct TowerDefaults {
    act: &'static str,
    eps: f64,
}

const CLIP_TOWER: TowerDefaults = TowerDefaults { act: "quick_gelu", eps: 1e-5 };
const SIGLIP_TOWER: TowerDefaults = TowerDefaults { act: "gelu_pytorch_tanh", eps: 1e-6 };

/// A `SiglipConfig`, with `SiglipConfig()`'s defaults (base, patch 16, 224 px).
fn siglip(v: &RawTower, t: &RawTower) -> Result<ClipConfig> {
    let family = Family::Siglip;
    if v.vision_use_head == Some(false) {
        return Err(Error::Config(
            "vision_config.vision_use_head is false: a SigLIP without its attention-pooling head has no image features".into(),
        ));
    }
    let vision = VisionConfig {
        tower: tower("vision_config", v, (768, 3072, 12, 12), SIGLIP_TOWER)?,
        image_size: v.image_size.unwrap_or(224),
        patch_size: v.patch_size.unwrap_or(16),
        channels: v.num_channels.unwrap_or(3),
        family,
    };
    let text = TextConfig {
        tower: tower("text_config", t, (768, 3072, 12, 12), SIGLIP_TOWER)?,
        vocab_size: t.vocab_size.unwrap_or(32000),
        max_positions: t.max_position_embeddings.unwrap_or(64),
        family,
    };
    let projection = t.projection_size.unwrap_or(text.tower.width);
    if projection != vision.tower.width {
        return Err(Error::Config(format!(
            "text_config.projection_size is {projection} but the vision tower's features have {} values: SigLIP compares them directly",
            vision.tower.width
        )));
    }
    Ok(ClipConfig { family, projection_dim: projection, vision, text })
}

fn tower(
    section: &str,
    raw: &RawTower,
    (width, intermediate, heads, layers): (usize, usize, usize, usize),
    defaults: TowerDefaults,
) -> Result<TowerConfig> {
    let act = match raw.hidden_act.as_deref().unwrap_or(defaults.act) {
        "quick_gelu" => Activation::QuickGelu,
        "gelu" => Activation::Gelu,
        "gelu_pytorch_tanh" | "gelu_new" => Activation::GeluTanh,
        other => {
            return Err(Error::Config(format!(
                "{section}.hidden_act \"{other}\" is not supported (quick_gelu, gelu or gelu_pytorch_tanh)"
            )))
        }
    };
    let config = TowerConfig {
        width: raw.hidden_size.unwrap_or(width),
        intermediate: raw.intermediate_size.unwrap_or(intermediate),
        heads: raw.num_attention_heads.unwrap_or(heads),
        layers: raw.num_hidden_layers.unwrap_or(layers),
        eps: raw.layer_norm_eps.unwrap_or(defaults.eps),
        act,
    };
    if config.width == 0
        || config.heads == 0
        || config.intermediate == 0
        || !config.width.is_multiple_of(config.heads)
    {
        return Err(Error::Config(format!(
            "{section}: hidden_size {} must be a positive multiple of num_attention_heads {} (and intermediate_size {} positive)",
            config.width, config.heads, config.intermediate
        )));
    }
    if config.layers > MAX_LAYERS {
        return Err(Error::Config(format!(
            "{section}.num_hidden_layers is {}, more than the {MAX_LAYERS} allowed",
            config.layers
        )));
    }
    // Written so that NaN is refused too.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(config.eps > 0.0) {
        return Err(Error::Config(format!("{section}.layer_norm_eps must be positive")));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_vit_b_32() {
        let c = ClipConfig::from_json("{}").unwrap();
        assert_eq!(
            (c.vision.tower.width, c.vision.tower.layers, c.vision.patch_size, c.vision.tokens()),
            (768, 12, 32, 50)
        );
        assert_eq!(
            (c.text.tower.width, c.text.tower.heads, c.text.max_positions, c.projection_dim),
            (512, 8, 77, 512)
        );
        assert_eq!(c.vision.tower.act, Activation::QuickGelu);
    }

    #[test]
    fn empty_siglip_config_is_base_16() {
        let c = ClipConfig::from_json(r#"{"model_type":"siglip"}"#).unwrap();
        // SiglipConfig(): 196 patches and no class token; text of 64 positions, 32,000 pieces.
        assert_eq!((c.family, c.vision.patch_size, c.vision.tokens()), (Family::Siglip, 16, 196));
        assert_eq!((c.text.max_positions, c.text.vocab_size, c.projection_dim), (64, 32000, 768));
        assert_eq!((c.vision.tower.act, c.text.tower.eps), (Activation::GeluTanh, 1e-6));
    }

    #[test]
    fn fields_override_defaults() {
        let c = ClipConfig::from_json(
            r#"{"model_type":"clip","projection_dim":24,
            "vision_config":{"hidden_size":44,"num_attention_heads":4,"image_size":42,"patch_size":7,"hidden_act":"gelu","layer_norm_eps":1e-6},
            "text_config":{"hidden_size":16,"num_attention_heads":2,"num_hidden_layers":2}}"#,
        )
        .unwrap();
        assert_eq!(
            (c.vision.tower.head_dim(), c.vision.tokens(), c.vision.tower.eps),
            (11, 37, 1e-6)
        );
        assert_eq!(
            (c.vision.tower.act, c.text.tower.layers, c.projection_dim),
            (Activation::Gelu, 2, 24)
        );
    }

    #[test]
    fn tensors_too_large_to_count_are_refused() {
        let err = ClipConfig::from_json(
            r#"{"vision_config":{"image_size":4294967296,"patch_size":4294967296}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("patch_embedding.weight would be [768, 3, 4294967296, 4294967296], more than the 17179869184 values"), "{err}");
        let err = ClipConfig::from_json(r#"{"text_config":{"vocab_size":100000000000}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("token_embedding.weight would be [100000000000, 512]"), "{err}");
    }

    #[test]
    fn contradictions_are_named() {
        for (json, needle) in [
            (
                r#"{"vision_config":{"hidden_size":10,"num_attention_heads":3}}"#,
                "vision_config: hidden_size 10",
            ),
            (r#"{"text_config":{"hidden_act":"relu"}}"#, "text_config.hidden_act \"relu\""),
            (r#"{"model_type":"blip"}"#, "model_type \"blip\", expected \"clip\" or \"siglip\""),
            (
                r#"{"model_type":"siglip","text_config":{"projection_size":512}}"#,
                "projection_size is 512 but the vision tower's features have 768",
            ),
            (
                r#"{"model_type":"siglip","vision_config":{"vision_use_head":false}}"#,
                "vision_use_head is false",
            ),
            (r#"{"vision_config":{"image_size":16,"patch_size":32}}"#, "patch_size 32"),
            (
                r#"{"vision_config":{"image_size":1024,"patch_size":8}}"#,
                "exceeds the attention kernel",
            ),
            // A grid of 10^10 patches a side: its square overflowed usize before the limit was checked.
            (
                r#"{"vision_config":{"image_size":10000000000,"patch_size":1}}"#,
                "exceeds the attention kernel",
            ),
            // From a 969-byte model file header (tests/fixtures/fuzz/): listing its tensors ran out of memory.
            (
                r#"{"text_config":{"num_hidden_layers":100000000}}"#,
                "text_config.num_hidden_layers is 100000000, more than the 1000 allowed",
            ),
            ("{not json", "not valid"),
            (r#"{"vision_config":{"num_channels":1}}"#, "num_channels is 1"),
        ] {
            let err = ClipConfig::from_json(json).unwrap_err().to_string();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }
}
