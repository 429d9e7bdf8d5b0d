//! `ClipModel`: a Hub CLIP loaded on an engine (see [`super::Runtime`]); it
//! embeds images and texts and scores labels. Every entry point is async;
//! nothing blocks.

use crate::engine::{Engine, WeightFormat};
use crate::error::{Error, Result};
use crate::image::{self, PreprocessConfig, RgbImage};
use crate::tokenizer::{TextTokenizer, TokenizerKind};

use super::config::{ClipConfig, Family};
use super::files::ModelSource;
use super::heatmap::{self, Heatmap};
use super::model_file::Plan;
use super::scores::{self, Scoring, ZeroShot};
use super::towers::{Forward, Towers};
use super::weights::Weights;

/// One label's probability, and its cosine.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    pub label: String,
    /// CLIP: its share of the softmax over the labels; SigLIP: its own sigmoid.
    pub probability: f64,
    pub cosine: f64,
}

/// Feature vectors, one per image or text, as the model computes them.
#[derive(Clone, Debug, PartialEq)]
pub struct Features(pub Vec<Vec<f32>>);

impl Features {
    /// As `get_image_features` / `get_text_features` return them.
    pub fn raw(self) -> Vec<Vec<f32>> {
        self.0
    }

    /// Unit-length copies (computed in f64), what cosines and search compare.
    pub fn unit(self) -> Vec<Vec<f32>> {
        self.0.iter().map(|row| scores::unit_length(row)).collect()
    }
}

/// A CLIP loaded on an engine: its config, preprocessing and tokenizer, and
/// the forward passes of its two towers.
pub struct ClipModel {
    pub config: ClipConfig,
    pub preprocess: PreprocessConfig,
    pub tokenizer: TextTokenizer,
    /// The raw parameter; scores use `exp(logit_scale)`.
    pub logit_scale: f32,
    /// How its cosines become probabilities (softmax for CLIP, a sigmoid each for SigLIP).
    pub scoring: Scoring,
    /// Bytes of the engine's memory its load created: weights, activations, inputs.
    pub gpu_bytes: u64,
    /// The format its matrices are held in.
    pub weights: WeightFormat,
    forward: Box<dyn Forward>,
}

/// Groups text indices into passes of at most `max_rows` tokens, each pass padded to its
/// longest text: shortest first, so similar lengths share a pass.
fn text_passes(ids: &[Vec<u32>], max_rows: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| ids[i].len());
    let mut passes: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match passes.last_mut() {
            // Sorted ascending: text i is the longest of the pass it joins.
            Some(pass) if (pass.len() + 1) * ids[i].len() <= max_rows => pass.push(i),
            _ => passes.push(vec![i]),
        }
    }
    passes
}

impl ClipModel {
    /// Checks every file (the config, and each tensor's name, dtype, shape and
    /// bytes against the safetensors header) before the first upload, then
    /// reads, packs in the engine's format and uploads the weights a tensor (a
    /// block of the encoder) at a time, binding them to the engine's ops.
    pub(crate) async fn load<E: Engine + 'static>(
        engine: E,
        source: ModelSource<'_>,
    ) -> Result<ClipModel> {
        let ModelSource { weights, header, texts, record } = source;
        let config = ClipConfig::from_json(&texts.config)?;
        let preprocess = PreprocessConfig::from_json(&texts.preprocessor)?;
        let size = config.vision.image_size as u32;
        match preprocess.fixed_output_size() {
            Some(out) if out == (size, size) => {}
            Some((width, height)) => {
                return Err(Error::Config(format!("preprocessor_config.json makes {width}x{height} pictures but the vision tower takes {size}x{size} images")));
            }
            None => {
                return Err(Error::Config(format!("preprocessor_config.json neither crops nor resizes to a fixed size, but the vision tower takes {size}x{size} images")));
            }
        }
        let kind = match config.family {
            Family::Clip => TokenizerKind::Clip,
            Family::Siglip => TokenizerKind::SigLip { max_length: config.text.max_positions },
        };
        let tokenizer = TextTokenizer::from_bytes(&texts.tokenizer, kind)?;
        let format = engine.format();
        let mut w = Weights::check(weights, header, &config, format)?;
        if let Some(record) = record {
            w = w.recording(record.sink, Plan::new(&texts, format, &record.source)?);
        }
        let allocated_before = engine.allocated_bytes();
        // In the file's order (tensors are sorted by name): logit_bias, logit_scale, the towers.
        let scoring = match config.family {
            Family::Clip => Scoring::Softmax { logit_scale: w.scalar("logit_scale").await? },
            Family::Siglip => {
                let logit_bias = w.scalar("logit_bias").await?;
                Scoring::Sigmoid { logit_scale: w.scalar("logit_scale").await?, logit_bias }
            }
        };
        let logit_scale = match scoring {
            Scoring::Softmax { logit_scale } | Scoring::Sigmoid { logit_scale, .. } => logit_scale,
        };
        let towers = Towers::load(engine, &config, &w).await?;
        w.finish_recording().await?;
        let gpu_bytes = towers.allocated_bytes() - allocated_before;
        Ok(ClipModel {
            config,
            preprocess,
            tokenizer,
            logit_scale,
            scoring,
            gpu_bytes,
            weights: format,
            forward: Box::new(towers),
        })
    }

    /// Image features from pixel values `[n, channels, size, size]` (row-major,
    /// flat), as `get_image_features`.
    pub async fn embed_pixels(&self, pixels: &[f32]) -> Result<Features> {
        let v = &self.config.vision;
        let per_image = v.channels * v.image_size * v.image_size;
        if pixels.is_empty() || !pixels.len().is_multiple_of(per_image) {
            return Err(Error::Input(format!(
                "pixel values hold {} floats, not a whole number of {}x{}x{} images",
                pixels.len(),
                v.channels,
                v.image_size,
                v.image_size
            )));
        }
        let mut out = Vec::new();
        for chunk in pixels.chunks(per_image * self.forward.max_images()) {
            let flat = self.forward.images(chunk, chunk.len() / per_image).await?;
            out.extend(self.rows(&flat));
        }
        Ok(Features(out))
    }

    /// Preprocesses (as `CLIPImageProcessor`) and embeds decoded images.
    pub async fn embed_images(&self, images: &[RgbImage]) -> Result<Features> {
        let pixels: Vec<f32> =
            images.iter().flat_map(|im| image::preprocess(im, &self.preprocess)).collect();
        self.embed_pixels(&pixels).await
    }

    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        self.tokenizer.encode_batch(texts)
    }

    /// Text features from token ids (with start and end tokens), as `get_text_features`.
    /// Texts are grouped by length into as few passes as the token budget allows.
    pub async fn embed_ids(&self, ids: &[Vec<u32>]) -> Result<Features> {
        self.embed_ids_reporting(ids, &|_| {}).await
    }

    /// [`ClipModel::embed_ids`], calling `done(texts embedded so far)` after
    /// each pass (a thousand labels take several: the page shows progress).
    pub async fn embed_ids_reporting(
        &self,
        ids: &[Vec<u32>],
        done: &dyn Fn(usize),
    ) -> Result<Features> {
        self.forward.check_ids(ids)?;
        let mut out = vec![Vec::new(); ids.len()];
        let mut finished = 0;
        for pass in text_passes(ids, self.forward.max_text_rows()) {
            let chunk: Vec<Vec<u32>> = pass.iter().map(|&i| ids[i].clone()).collect();
            let flat = self.forward.texts(&chunk).await?;
            finished += chunk.len();
            for (i, row) in pass.into_iter().zip(self.rows(&flat)) {
                out[i] = row;
            }
            done(finished);
        }
        Ok(Features(out))
    }

    pub async fn embed_texts(&self, texts: &[&str]) -> Result<Features> {
        // The limits labels have: as many texts at once, each as long ([`scores::check_texts`]).
        scores::check_texts(texts)?;
        self.embed_ids(&self.tokenize(texts)?).await
    }

    /// Zero-shot probabilities of `labels` for one image, in label order. With
    /// templates (`"a photo of a {}"`), each label's prompts are averaged.
    pub async fn classify(
        &self,
        image: &RgbImage,
        labels: &[String],
        templates: &[String],
    ) -> Result<Vec<Score>> {
        let prompts = self.embed_prompts(labels, templates).await?;
        let image = self.embed_images(std::slice::from_ref(image)).await?.unit();
        let answer = self.zero_shot(&image[0], &prompts, templates);
        Ok(labels
            .iter()
            .zip(answer.probabilities.into_iter().zip(answer.cosines))
            .map(|(label, (probability, cosine))| Score {
                label: label.clone(),
                probability,
                cosine,
            })
            .collect())
    }

    /// The text side of [`ClipModel::classify`]: checks labels and templates,
    /// then embeds every prompt (label-major, unit length).
    pub async fn embed_prompts(
        &self,
        labels: &[String],
        templates: &[String],
    ) -> Result<Vec<Vec<f32>>> {
        scores::check_inputs(labels, templates)?;
        let prompts = scores::prompts(labels, templates);
        let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
        Ok(self.embed_texts(&refs).await?.unit())
    }

    /// Where in `image` each label matches ([`heatmap`]'s definition): one
    /// dense vision pass for all labels at `resolution` px (rounded to the
    /// patch size; by default twice the model's input).
    pub async fn heatmap(
        &self,
        image: &RgbImage,
        labels: &[String],
        templates: &[String],
        resolution: Option<usize>,
    ) -> Result<Heatmap> {
        self.heatmap_resolution(resolution)?;
        let prompts = self.embed_prompts(labels, templates).await?;
        self.heatmap_of_prompts(image, labels, &prompts, templates.len().max(1), resolution).await
    }

    /// The input side a heatmap at `resolution` px uses, or why it cannot.
    pub fn heatmap_resolution(&self, resolution: Option<usize>) -> Result<usize> {
        if self.config.family == Family::Siglip {
            return Err(Error::Input(
                "heatmaps are not available for SigLIP models: the method reads CLIP's class-token head at every patch, and SigLIP pools its patches with an attention probe instead".into(),
            ));
        }
        heatmap::resolution(&self.config.vision, resolution, self.forward.max_dense_tokens())
    }

    /// [`ClipModel::heatmap`] with the labels' prompts embedded already
    /// ([`ClipModel::embed_prompts`]: label-major, `per_label` each).
    pub async fn heatmap_of_prompts(
        &self,
        image: &RgbImage,
        labels: &[String],
        prompts: &[Vec<f32>],
        per_label: usize,
        resolution: Option<usize>,
    ) -> Result<Heatmap> {
        let size = self.heatmap_resolution(resolution)?;
        let cfg = heatmap::preprocess_at(&self.preprocess, size);
        let pixels = image::preprocess(image, &cfg);
        let dense = self.forward.dense(&pixels, size).await?;
        let dim = self.config.projection_dim;
        let (maps, cosines) = heatmap::maps(&dense, dim, prompts, per_label, self.logit_scale);
        let grid = size / self.config.vision.patch_size;
        Ok(Heatmap {
            labels: labels.to_vec(),
            rows: grid,
            cols: grid,
            resolution: size,
            maps,
            cosines,
            crop: heatmap::crop(image.width, image.height, &cfg),
        })
    }

    /// The largest heatmap resolution this model takes, in px.
    /// 0 for SigLIP, which has none ([`ClipModel::heatmap_resolution`] says why).
    pub fn max_heatmap_resolution(&self) -> usize {
        if self.config.family == Family::Siglip {
            return 0;
        }
        heatmap::max_grid(self.forward.max_dense_tokens()) * self.config.vision.patch_size
    }

    /// For each label, whether one of its prompts is longer than the text
    /// encoder reads (77 tokens), so that only its beginning counts.
    pub fn truncated_labels(&self, labels: &[String], templates: &[String]) -> Result<Vec<bool>> {
        let per_label = templates.len().max(1);
        let cut: Vec<bool> = scores::prompts(labels, templates)
            .iter()
            .map(|p| self.tokenizer.truncates(p))
            .collect::<Result<_>>()?;
        Ok(cut.chunks(per_label).map(|c| c.iter().any(|&t| t)).collect())
    }

    /// Cosines and probabilities over labels from an image embedding and
    /// [`ClipModel::embed_prompts`]' output.
    pub fn zero_shot(&self, image: &[f32], prompts: &[Vec<f32>], templates: &[String]) -> ZeroShot {
        scores::zero_shot(image, prompts, templates.len().max(1), self.scoring)
    }

    /// A pass's flat output as rows of `projection_dim`.
    fn rows(&self, flat: &[f32]) -> Vec<Vec<f32>> {
        flat.chunks(self.config.projection_dim).map(<[f32]>::to_vec).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::text_passes;

    #[test]
    fn text_passes_fill_the_token_budget() {
        let ids = |lens: &[usize]| lens.iter().map(|&n| vec![0u32; n]).collect::<Vec<_>>();
        // 6 tokens per pass: the two 2-token texts and the 3-token one pad to 3 (9 > 6).
        assert_eq!(text_passes(&ids(&[3, 2, 6, 2]), 6), vec![vec![1, 3], vec![0], vec![2]]);
        // 1,000 labels of 7 tokens in a 2,464-token budget: 352 per pass, 3 passes.
        let passes = text_passes(&ids(&[7; 1000]), 2464);
        assert_eq!(passes.iter().map(Vec::len).collect::<Vec<_>>(), [352, 352, 296]);
        // One text longer than the budget still gets a pass of its own.
        assert_eq!(text_passes(&ids(&[9, 1]), 4), vec![vec![1], vec![0]]);
    }
}
