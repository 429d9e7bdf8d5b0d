//! `preprocessor_config.json`: the few numbers that turn a picture into the model's input.
//!
//! Two processors share one pipeline (resize, optional center crop, rescale, normalise):
//! - `CLIPImageProcessor`: the shorter side to `size.shortest_edge`, then a center crop. The
//!   Hub carries two spellings of the same settings: OpenAI's own checkpoints
//!   (`openai/clip-vit-base-patch32`) still ship the old feature-extractor style
//!   `"size": 224, "crop_size": 224`; files saved by newer transformers use
//!   `"size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224}`.
//! - `SiglipImageProcessor` (SigLIP, and SigLIP 2's fixed-resolution checkpoints): exactly
//!   `"size": {"height": h, "width": w}` (aspect ratio not kept), no crop, mean and std 0.5,
//!   bicubic (`"resample": 3`) or bilinear (`2`).
//!
//! A missing (or `null`) field takes the default of the processor the file names in
//! `image_processor_type` (`SiglipImageProcessor*`: SigLIP's; anything else: CLIP's), as
//! transformers' class attributes do. (transformers 5.24 takes an explicit `null` literally
//! instead: a `null` switch is off, a `null` size, filter, mean or crop size with its switch
//! on is an error. The `null` real files carry is `"do_convert_rgb": null` (several SigLIP
//! files have it): transformers then skips the conversion to RGB, which gives the same
//! pixels for an RGB picture and raises an error for any other (RGBA, gray, palette), so we
//! convert as always.)

use serde_json::{Map, Value};

pub use super::resize::Resample;
use crate::error::{Error, Result};

// Python floats (f64) narrowed to f32 as numpy does, rather than decimal -> f32 directly:
// the two roundings can differ in the last bit.
/// OpenAI's CLIP channel means (transformers' `OPENAI_CLIP_MEAN`).
pub const OPENAI_CLIP_MEAN: [f32; 3] =
    [0.48145466f64 as f32, 0.4578275f64 as f32, 0.40821073f64 as f32];
/// OpenAI's CLIP channel standard deviations (transformers' `OPENAI_CLIP_STD`).
pub const OPENAI_CLIP_STD: [f32; 3] =
    [0.26862954f64 as f32, 0.26130258f64 as f32, 0.27577711f64 as f32];
/// SigLIP's channel means: transformers' `IMAGENET_STANDARD_MEAN`, which maps 0..1 to -1..1.
pub const IMAGENET_STANDARD_MEAN: [f32; 3] = [0.5; 3];
/// SigLIP's channel standard deviations (transformers' `IMAGENET_STANDARD_STD`).
pub const IMAGENET_STANDARD_STD: [f32; 3] = [0.5; 3];

/// What `do_resize` resizes a picture to (`size` in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeTo {
    /// CLIP's `{"shortest_edge": n}` (or a bare int): the shorter side becomes
    /// [`PreprocessConfig::shortest_edge`], the aspect ratio is kept.
    ShortestEdge,
    /// SigLIP's `{"height": h, "width": w}`: exactly this size, the aspect ratio is not kept.
    Exact { height: u32, width: u32 },
}

/// How transformers' image processor (Pillow backend) turns an RGB picture into
/// `pixel_values`.
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessConfig {
    /// What the resize aims at: the shorter side, or an exact size.
    pub resize_to: ResizeTo,
    /// The shorter side is resized to this (`size.shortest_edge`) when `resize_to` is
    /// [`ResizeTo::ShortestEdge`]; unused otherwise.
    pub shortest_edge: u32,
    /// The Pillow filter of the resize (`resample`).
    pub resample: Resample,
    /// Center-crop height (`crop_size.height`); unused without `do_center_crop`.
    pub crop_height: u32,
    /// Center-crop width (`crop_size.width`); unused without `do_center_crop`.
    pub crop_width: u32,
    pub do_resize: bool,
    pub do_center_crop: bool,
    pub do_rescale: bool,
    /// Multiplies the uint8 values (1/255 for every CLIP and SigLIP checkpoint).
    pub rescale_factor: f32,
    pub do_normalize: bool,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
    /// Kept for fidelity with the file; [`super::decode`] always produces RGB.
    pub do_convert_rgb: bool,
}

/// Which processor's defaults a file's missing fields take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Processor {
    Clip,
    Siglip,
}

impl PreprocessConfig {
    /// The CLIP defaults for a model whose input is `image_size` x `image_size`
    /// (224 for ViT-B/32, B/16, L/14; 336 for L/14@336).
    pub fn clip_default(image_size: u32) -> Self {
        PreprocessConfig {
            resize_to: ResizeTo::ShortestEdge,
            shortest_edge: image_size,
            resample: Resample::Bicubic,
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

    /// transformers' `SiglipImageProcessor` defaults at `image_size` x `image_size`
    /// (224, 256, 384 or 512 for the released checkpoints): an exact bicubic resize, no crop,
    /// mean and std 0.5. SigLIP 2's fixed-resolution files change only `resample` (bilinear).
    pub fn siglip_default(image_size: u32) -> Self {
        PreprocessConfig {
            resize_to: ResizeTo::Exact { height: image_size, width: image_size },
            do_center_crop: false,
            image_mean: IMAGENET_STANDARD_MEAN,
            image_std: IMAGENET_STANDARD_STD,
            ..PreprocessConfig::clip_default(image_size)
        }
    }

    /// `(width, height)` of the output when it is the same for every picture: the crop with
    /// `do_center_crop`, else the exact size of a [`ResizeTo::Exact`] resize. `None` when the
    /// output follows each picture's size or aspect ratio.
    pub fn fixed_output_size(&self) -> Option<(u32, u32)> {
        match (self.do_center_crop, self.do_resize, self.resize_to) {
            (true, _, _) => Some((self.crop_width, self.crop_height)),
            (false, true, ResizeTo::Exact { height, width }) => Some((width, height)),
            _ => None,
        }
    }

    /// The same preprocessing for a `size` x `size` model input (a heatmap's larger pass):
    /// the resize target and the crop both become `size`, the rest is unchanged.
    pub fn with_input_size(&self, size: u32) -> Self {
        let resize_to = match self.resize_to {
            ResizeTo::ShortestEdge => ResizeTo::ShortestEdge,
            ResizeTo::Exact { .. } => ResizeTo::Exact { height: size, width: size },
        };
        PreprocessConfig {
            resize_to,
            shortest_edge: size,
            crop_height: size,
            crop_width: size,
            ..self.clone()
        }
    }

    /// Parses a Hub `preprocessor_config.json` (any style, see the module doc).
    ///
    /// Settings this crate cannot honour are errors naming the field and its value rather
    /// than silently different numbers: a resample filter other than bilinear or bicubic,
    /// `longest_edge` and the other size rules, SigLIP 2's variable-resolution processor, a
    /// zero size or a zero standard deviation.
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            Error::Config(format!("preprocessor_config.json is not valid JSON: {e}"))
        })?;
        let obj = value.as_object().ok_or_else(|| {
            Error::Config("preprocessor_config.json must be a JSON object".into())
        })?;
        let processor = processor(obj)?;
        let mut cfg = match processor {
            Processor::Clip => PreprocessConfig::clip_default(224),
            Processor::Siglip => PreprocessConfig::siglip_default(224),
        };

        if let Some(r) = field(obj, "resample") {
            cfg.resample = r.as_i64().and_then(Resample::from_pil).ok_or_else(|| {
                let name = r.as_i64().and_then(pil_filter_name).unwrap_or("not a Pillow filter");
                Error::Config(format!(
                    "resample = {r} ({name}): only 2 (bilinear) and 3 (bicubic) are implemented"
                ))
            })?;
        }
        cfg.do_resize = bool_field(obj, "do_resize", cfg.do_resize)?;
        cfg.do_center_crop = bool_field(obj, "do_center_crop", cfg.do_center_crop)?;
        cfg.do_rescale = bool_field(obj, "do_rescale", cfg.do_rescale)?;
        cfg.do_normalize = bool_field(obj, "do_normalize", cfg.do_normalize)?;
        cfg.do_convert_rgb = bool_field(obj, "do_convert_rgb", cfg.do_convert_rgb)?;

        if let Some(size) = field(obj, "size") {
            match parse_size(size)? {
                Size::ShortestEdge(n) => {
                    (cfg.resize_to, cfg.shortest_edge) = (ResizeTo::ShortestEdge, n)
                }
                Size::Exact { height, width } => cfg.resize_to = ResizeTo::Exact { height, width },
            }
        }
        match field(obj, "crop_size") {
            Some(crop) => (cfg.crop_height, cfg.crop_width) = parse_crop(crop)?,
            // SiglipImageProcessor has no crop size to fall back on; transformers refuses too.
            None if cfg.do_center_crop && processor == Processor::Siglip => {
                return Err(Error::Config(
                    "do_center_crop = true but crop_size is missing \
                     (SiglipImageProcessor has no default crop)"
                        .into(),
                ));
            }
            None => {}
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
        if let ResizeTo::Exact { height, width } = self.resize_to {
            if self.do_resize && (height == 0 || width == 0) {
                return Err(Error::Config("size must be at least 1x1".into()));
            }
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

/// The processor named by `image_processor_type` (CLIP's for any other name, or none).
fn processor(obj: &Map<String, Value>) -> Result<Processor> {
    let Some(v) = field(obj, "image_processor_type") else { return Ok(Processor::Clip) };
    let name = v.as_str().ok_or_else(|| {
        Error::Config(format!("image_processor_type = {v}: expected a class name"))
    })?;
    if name.starts_with("Siglip2") {
        // NaFlex: patches at the picture's own aspect ratio, up to max_num_patches.
        return Err(Error::Config(format!(
            "image_processor_type = {name:?}: SigLIP 2's variable-resolution (NaFlex) \
             preprocessing is not supported; its fixed-resolution checkpoints use \
             SiglipImageProcessor"
        )));
    }
    Ok(if name.starts_with("Siglip") { Processor::Siglip } else { Processor::Clip })
}

/// Pillow's names for its filter codes (`PIL.Image.Resampling`).
fn pil_filter_name(code: i64) -> Option<&'static str> {
    Some(match code {
        0 => "nearest",
        1 => "lanczos",
        2 => "bilinear",
        3 => "bicubic",
        4 => "box",
        5 => "hamming",
        _ => return None,
    })
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

/// The `size` rules implemented here.
enum Size {
    ShortestEdge(u32),
    Exact { height: u32, width: u32 },
}

/// `size`: an int (old style; both processors read it as the shortest edge),
/// `{"shortest_edge": n}` or `{"height": h, "width": w}`. transformers accepts a few more
/// key sets (`longest_edge`, `max_height` + `max_width`, ...): those are errors here.
fn parse_size(v: &Value) -> Result<Size> {
    if v.is_number() {
        return Ok(Size::ShortestEdge(positive_u32("size", v)?));
    }
    let obj = v
        .as_object()
        .ok_or_else(|| Error::Config(format!("size = {v}: expected an int or an object")))?;
    // Like transformers, the keys must form one rule exactly; a null value counts as absent.
    let mut keys: Vec<&str> =
        obj.iter().filter(|(_, x)| !x.is_null()).map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    let key = |k: &str| positive_u32(&format!("size.{k}"), &obj[k]);
    match keys.as_slice() {
        ["shortest_edge"] => Ok(Size::ShortestEdge(key("shortest_edge")?)),
        ["height", "width"] => Ok(Size::Exact { height: key("height")?, width: key("width")? }),
        k if k.contains(&"longest_edge") => {
            Err(Error::Config(format!("size = {v}: longest_edge is not supported")))
        }
        _ => Err(Error::Config(format!(
            "size = {v}: only {{\"shortest_edge\": n}} (CLIP) and {{\"height\": h, \"width\": w}} \
             (SigLIP) are supported"
        ))),
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
        assert_eq!((c.resize_to, c.resample), (ResizeTo::ShortestEdge, Resample::Bicubic));
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

    /// The error names the field and the value it refused.
    fn config_error(text: &str) -> String {
        match PreprocessConfig::from_json(text) {
            Err(Error::Config(msg)) => msg,
            other => panic!("{text}: expected Error::Config, got {other:?}"),
        }
    }

    #[test]
    fn unsupported_settings_name_the_field_and_value() {
        for (bad, words) in [
            (r#"{"resample": 0}"#, &["resample = 0", "nearest", "bilinear", "bicubic"][..]),
            (r#"{"resample": 1}"#, &["resample = 1", "lanczos"]),
            (r#"{"resample": 5}"#, &["resample = 5", "hamming"]),
            (r#"{"resample": 9}"#, &["resample = 9"]),
            (r#"{"resample": "bicubic"}"#, &["resample = \"bicubic\""]),
            (r#"{"size": {"longest_edge": 512}}"#, &["size = ", "longest_edge", "512"]),
            (r#"{"size": {"shortest_edge": 224, "longest_edge": 300}}"#, &["longest_edge", "300"]),
            (r#"{"size": {"max_height": 64, "max_width": 64}}"#, &["size = ", "max_height"]),
            (r#"{"size": {"shortest_edge": 224, "height": 10}}"#, &["size = ", "height"]),
            (r#"{"size": {"height": 224}}"#, &["size = ", "height"]),
            (r#"{"size": {"height": 0, "width": 224}}"#, &["size.height = 0"]),
            (r#"{"size": {"height": 224, "width": -3}}"#, &["size.width = -3"]),
            (
                r#"{"image_processor_type": "SiglipImageProcessor", "do_center_crop": true}"#,
                &["do_center_crop", "crop_size"],
            ),
            (
                r#"{"image_processor_type": "Siglip2ImageProcessor", "max_num_patches": 256}"#,
                &["image_processor_type", "Siglip2ImageProcessor", "NaFlex"],
            ),
            (r#"{"image_processor_type": 3}"#, &["image_processor_type = 3"]),
        ] {
            let msg = config_error(bad);
            for w in words {
                assert!(msg.contains(w), "{bad}: {msg:?} does not mention {w:?}");
            }
        }
    }

    /// `google/siglip-base-patch16-224`'s file.
    const SIGLIP: &str = r#"{
      "do_normalize": true, "do_rescale": true, "do_resize": true,
      "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "SiglipImageProcessor",
      "image_std": [0.5, 0.5, 0.5], "processor_class": "SiglipProcessor", "resample": 3,
      "rescale_factor": 0.00392156862745098, "size": {"height": 224, "width": 224}
    }"#;

    #[test]
    fn siglip_file_is_siglip_default() {
        let c = PreprocessConfig::from_json(SIGLIP).unwrap();
        assert_eq!(c, PreprocessConfig::siglip_default(224));
        assert_eq!(c.resize_to, ResizeTo::Exact { height: 224, width: 224 });
        assert_eq!(c.resample, Resample::Bicubic);
        assert!(!c.do_center_crop);
        assert_eq!(c.fixed_output_size(), Some((224, 224)));
        // Missing fields take SigLIP's defaults, not CLIP's.
        let bare = r#"{"image_processor_type": "SiglipImageProcessorFast"}"#;
        assert_eq!(
            PreprocessConfig::from_json(bare).unwrap(),
            PreprocessConfig::siglip_default(224)
        );
    }

    /// A SigLIP 2 fixed-resolution file: bilinear, `"do_convert_rgb": null`, non-square here.
    #[test]
    fn siglip2_bilinear_non_square() {
        let c = PreprocessConfig::from_json(
            r#"{"do_convert_rgb": null, "image_processor_type": "SiglipImageProcessor",
                "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2,
                "size": {"height": 48, "width": 32}}"#,
        )
        .unwrap();
        assert_eq!(c.resample, Resample::Bilinear);
        assert_eq!(c.resize_to, ResizeTo::Exact { height: 48, width: 32 });
        assert!(c.do_convert_rgb && !c.do_center_crop);
        assert_eq!(c.fixed_output_size(), Some((32, 48)));
    }

    /// `{"height", "width"}` and resample 2 in a CLIP file: CLIP's other defaults stay.
    #[test]
    fn exact_size_and_bilinear_in_a_clip_file() {
        let c = PreprocessConfig::from_json(
            r#"{"size": {"height": 256, "width": 300}, "crop_size": 224, "resample": 2}"#,
        )
        .unwrap();
        assert_eq!(c.resize_to, ResizeTo::Exact { height: 256, width: 300 });
        assert_eq!(c.resample, Resample::Bilinear);
        assert!(c.do_center_crop);
        assert_eq!((c.image_mean, c.fixed_output_size()), (OPENAI_CLIP_MEAN, Some((224, 224))));
        // A null key counts as absent, as transformers' resize treats it.
        let c = PreprocessConfig::from_json(
            r#"{"size": {"shortest_edge": 100, "longest_edge": null}}"#,
        )
        .unwrap();
        assert_eq!((c.resize_to, c.shortest_edge), (ResizeTo::ShortestEdge, 100));
    }

    #[test]
    fn fixed_output_size_and_with_input_size() {
        let clip = PreprocessConfig::clip_default(224);
        assert_eq!(clip.fixed_output_size(), Some((224, 224)));
        let no_crop = PreprocessConfig { do_center_crop: false, ..clip.clone() };
        assert_eq!(no_crop.fixed_output_size(), None);
        let siglip = PreprocessConfig::siglip_default(224);
        let no_resize = PreprocessConfig { do_resize: false, ..siglip.clone() };
        assert_eq!(no_resize.fixed_output_size(), None);

        let big = clip.with_input_size(448);
        assert_eq!((big.shortest_edge, big.crop_height, big.crop_width), (448, 448, 448));
        assert_eq!(big.fixed_output_size(), Some((448, 448)));
        let big = siglip.with_input_size(448);
        assert_eq!(big.resize_to, ResizeTo::Exact { height: 448, width: 448 });
        assert_eq!(big.fixed_output_size(), Some((448, 448)));
        assert_eq!(big, PreprocessConfig::siglip_default(448));
    }

    #[test]
    fn scalar_mean_applies_to_all_channels() {
        let c = PreprocessConfig::from_json(r#"{"image_mean": 0.5, "image_std": 0.5}"#).unwrap();
        assert_eq!((c.image_mean, c.image_std), ([0.5; 3], [0.5; 3]));
    }
}
