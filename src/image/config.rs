//! `preprocessor_config.json`: the few numbers that turn a picture into CLIP's input.
//!
//! The Hub carries two spellings of the same settings. OpenAI's own checkpoints
//! (`openai/clip-vit-base-patch32`) still ship the old feature-extractor style
//! `"size": 224, "crop_size": 224`; files saved by newer transformers use
//! `"size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224}`.
//! Both parse to the same [`PreprocessConfig`]. A missing (or `null`) field takes the
//! default of transformers' `CLIPImageProcessor`, exactly as transformers does.

use serde_json::{Map, Value};

use crate::error::{Error, Result};

// Python floats (f64) narrowed to f32 as numpy does, rather than decimal -> f32 directly:
// the two roundings can differ in the last bit.
/// OpenAI's CLIP channel means (transformers' `OPENAI_CLIP_MEAN`).
pub const OPENAI_CLIP_MEAN: [f32; 3] =
    [0.48145466f64 as f32, 0.4578275f64 as f32, 0.40821073f64 as f32];
/// OpenAI's CLIP channel standard deviations (transformers' `OPENAI_CLIP_STD`).
pub const OPENAI_CLIP_STD: [f32; 3] =
    [0.26862954f64 as f32, 0.26130258f64 as f32, 0.27577711f64 as f32];

/// Pillow's code for bicubic resampling, the only filter implemented here.
const PIL_BICUBIC: i64 = 3;

/// How `CLIPImageProcessor` turns an RGB picture into `pixel_values`.
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessConfig {
    /// The shorter side is resized to this (`size.shortest_edge`).
    pub shortest_edge: u32,
    /// Center-crop height (`crop_size.height`).
    pub crop_height: u32,
    /// Center-crop width (`crop_size.width`).
    pub crop_width: u32,
    pub do_resize: bool,
    pub do_center_crop: bool,
    pub do_rescale: bool,
    /// Multiplies the uint8 values (1/255 for every CLIP checkpoint).
    pub rescale_factor: f32,
    pub do_normalize: bool,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
    /// Kept for fidelity with the file; [`super::decode`] always produces RGB.
    pub do_convert_rgb: bool,
}

impl PreprocessConfig {
    /// The CLIP defaults for a model whose input is `image_size` x `image_size`
    /// (224 for ViT-B/32, B/16, L/14; 336 for L/14@336).
    pub fn clip_default(image_size: u32) -> Self {
        PreprocessConfig {
            shortest_edge: image_size,
            crop_height: image_size,
            crop_width: image_size,
            do_resize: true,
            do_center_crop: true,
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            image_mean: OPENAI_CLIP_MEAN,
            image_std: OPENAI_CLIP_STD,
            do_convert_rgb: true,
        }
    }

    /// Parses a Hub `preprocessor_config.json` (either style, see the module doc).
    ///
    /// Settings this crate cannot honour are errors rather than silently different
    /// numbers: a resample filter other than bicubic, a fixed `{height, width}` resize,
    /// `longest_edge`, a zero size or a zero standard deviation.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            Error::Config(format!("preprocessor_config.json is not valid JSON: {e}"))
        })?;
        let obj = value.as_object().ok_or_else(|| {
            Error::Config("preprocessor_config.json must be a JSON object".into())
        })?;
        let mut cfg = PreprocessConfig::clip_default(224);

        if let Some(r) = field(obj, "resample") {
            if r.as_i64() != Some(PIL_BICUBIC) {
                return Err(Error::Config(format!(
                    "resample = {r}: only 3 (bicubic, what CLIP uses) is implemented"
                )));
            }
        }
        cfg.do_resize = bool_field(obj, "do_resize", cfg.do_resize)?;
        cfg.do_center_crop = bool_field(obj, "do_center_crop", cfg.do_center_crop)?;
        cfg.do_rescale = bool_field(obj, "do_rescale", cfg.do_rescale)?;
        cfg.do_normalize = bool_field(obj, "do_normalize", cfg.do_normalize)?;
        cfg.do_convert_rgb = bool_field(obj, "do_convert_rgb", cfg.do_convert_rgb)?;

        if let Some(size) = field(obj, "size") {
            cfg.shortest_edge = parse_size(size)?;
        }
        if let Some(crop) = field(obj, "crop_size") {
            (cfg.crop_height, cfg.crop_width) = parse_crop(crop)?;
        }
        if let Some(f) = field(obj, "rescale_factor") {
            cfg.rescale_factor = f
                .as_f64()
                .ok_or_else(|| Error::Config(format!("rescale_factor = {f}: expected a number")))?
                as f32;
        }
        if let Some(m) = field(obj, "image_mean") {
            cfg.image_mean = parse_triple("image_mean", m)?;
        }
        if let Some(s) = field(obj, "image_std") {
            cfg.image_std = parse_triple("image_std", s)?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Rejects settings that would divide by zero or produce an empty tensor.
    fn validate(&self) -> Result<()> {
        if self.do_resize && self.shortest_edge == 0 {
            return Err(Error::Config("size.shortest_edge must be at least 1".into()));
        }
        if self.do_center_crop && (self.crop_height == 0 || self.crop_width == 0) {
            return Err(Error::Config("crop_size must be at least 1x1".into()));
        }
        if self.do_normalize && self.image_std.iter().any(|s| *s == 0.0 || !s.is_finite()) {
            return Err(Error::Config(format!(
                "image_std {:?} must be finite and non-zero",
                self.image_std
            )));
        }
        Ok(())
    }
}

/// A present, non-null field.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn bool_field(obj: &Map<String, Value>, key: &str, default: bool) -> Result<bool> {
    match field(obj, key) {
        None => Ok(default),
        Some(v) => {
            v.as_bool().ok_or_else(|| Error::Config(format!("{key} = {v}: expected true or false")))
        }
    }
}

fn positive_u32(what: &str, v: &Value) -> Result<u32> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::Config(format!("{what} = {v}: expected a positive integer")))
}

/// `size`: an int (old style, means shortest edge for CLIP) or `{"shortest_edge": n}`.
fn parse_size(v: &Value) -> Result<u32> {
    if v.is_number() {
        return positive_u32("size", v);
    }
    let obj = v
        .as_object()
        .ok_or_else(|| Error::Config(format!("size = {v}: expected an int or an object")))?;
    if field(obj, "longest_edge").is_some() {
        return Err(Error::Config(format!("size = {v}: longest_edge is not supported")));
    }
    match field(obj, "shortest_edge") {
        Some(n) => positive_u32("size.shortest_edge", n),
        None => Err(Error::Config(format!("size = {v}: only {{\"shortest_edge\": n}} is supported (CLIP resizes the shorter side)"))),
    }
}

/// `crop_size`: an int (square) or `{"height": h, "width": w}`.
fn parse_crop(v: &Value) -> Result<(u32, u32)> {
    if v.is_number() {
        let n = positive_u32("crop_size", v)?;
        return Ok((n, n));
    }
    let obj = v
        .as_object()
        .ok_or_else(|| Error::Config(format!("crop_size = {v}: expected an int or an object")))?;
    match (field(obj, "height"), field(obj, "width")) {
        (Some(h), Some(w)) => {
            Ok((positive_u32("crop_size.height", h)?, positive_u32("crop_size.width", w)?))
        }
        _ => {
            Err(Error::Config(format!("crop_size = {v}: expected {{\"height\": h, \"width\": w}}")))
        }
    }
}

/// A per-channel triple; a single number applies to all three channels, as in transformers.
fn parse_triple(what: &str, v: &Value) -> Result<[f32; 3]> {
    if let Some(x) = v.as_f64() {
        return Ok([x as f32; 3]);
    }
    let bad = || Error::Config(format!("{what} = {v}: expected three numbers"));
    let arr = v.as_array().filter(|a| a.len() == 3).ok_or_else(bad)?;
    let mut out = [0f32; 3];
    for (o, x) in out.iter_mut().zip(arr) {
        *o = x.as_f64().ok_or_else(bad)? as f32;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openai/clip-vit-base-patch32`'s file, verbatim.
    const OLD_STYLE: &str = r#"{
      "crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
      "feature_extractor_type": "CLIPFeatureExtractor",
      "image_mean": [0.48145466, 0.4578275, 0.40821073],
      "image_std": [0.26862954, 0.26130258, 0.27577711],
      "resample": 3, "size": 224
    }"#;

    const NEW_STYLE: &str = r#"{
      "crop_size": {"height": 336, "width": 320}, "do_center_crop": true, "do_convert_rgb": true,
      "do_normalize": true, "do_rescale": true, "do_resize": true,
      "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "CLIPImageProcessor",
      "image_std": [0.25, 0.5, 1.0], "resample": 3, "rescale_factor": 0.00392156862745098,
      "size": {"shortest_edge": 336}
    }"#;

    #[test]
    fn old_hub_style_is_b32_default() {
        assert_eq!(
            PreprocessConfig::from_json(OLD_STYLE).unwrap(),
            PreprocessConfig::clip_default(224)
        );
    }

    #[test]
    fn new_hub_style() {
        let c = PreprocessConfig::from_json(NEW_STYLE).unwrap();
        assert_eq!((c.shortest_edge, c.crop_height, c.crop_width), (336, 336, 320));
        assert_eq!(c.image_mean, [0.5; 3]);
        assert_eq!(c.image_std, [0.25, 0.5, 1.0]);
        assert_eq!(c.rescale_factor, 1.0 / 255.0);
    }

    #[test]
    fn missing_and_null_fields_take_clip_defaults() {
        assert_eq!(PreprocessConfig::from_json("{}").unwrap(), PreprocessConfig::clip_default(224));
        let c = PreprocessConfig::from_json(
            r#"{"size": 100, "crop_size": null, "do_normalize": false}"#,
        )
        .unwrap();
        assert_eq!(
            (c.shortest_edge, c.crop_height, c.crop_width, c.do_normalize),
            (100, 224, 224, false)
        );
        assert_eq!(c.image_std, OPENAI_CLIP_STD);
    }

    #[test]
    fn unsupported_settings_are_config_errors() {
        for bad in [
            r#"{"resample": 2}"#,
            r#"{"size": {"height": 224, "width": 224}}"#,
            r#"{"size": {"shortest_edge": 224, "longest_edge": 300}}"#,
            r#"{"size": 0}"#,
            r#"{"crop_size": {"height": 224}}"#,
            r#"{"image_std": [0.2, 0.0, 0.2]}"#,
            r#"{"image_mean": [0.2, 0.3]}"#,
            r#"{"do_resize": "yes"}"#,
            "[1, 2]",
            "not json",
        ] {
            match PreprocessConfig::from_json(bad) {
                Err(Error::Config(msg)) => assert!(!msg.is_empty()),
                other => panic!("{bad}: expected Error::Config, got {other:?}"),
            }
        }
    }

    #[test]
    fn scalar_mean_applies_to_all_channels() {
        let c = PreprocessConfig::from_json(r#"{"image_mean": 0.5, "image_std": 0.5}"#).unwrap();
        assert_eq!((c.image_mean, c.image_std), ([0.5; 3], [0.5; 3]));
    }
}
