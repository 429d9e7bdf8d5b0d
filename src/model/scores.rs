//! Zero-shot scores as in the CLIP paper: prompts from templates, one averaged
//! text embedding per label, `exp(logit_scale) · cos`, softmax over labels; or
//! as SigLIP scores them, `sigmoid(exp(logit_scale) · cos + logit_bias)` per
//! label, independent of the others ([`Scoring`]).

use crate::error::{Error, Result};

/// The placeholder a template replaces with the label.
pub const PLACEHOLDER: &str = "{}";

/// Checks labels and templates before any work: no empty list, no blank or
/// repeated label, every template has the placeholder.
pub fn check_inputs(labels: &[String], templates: &[String]) -> Result<()> {
    if labels.is_empty() {
        return Err(Error::Input(
            "no labels given: zero-shot classification needs at least one label".into(),
        ));
    }
    if labels.len() * templates.len().max(1) > MAX_PROMPTS {
        return Err(Error::Input(format!(
            "{} labels × {} templates make more than the {MAX_PROMPTS} prompts allowed at once",
            labels.len(),
            templates.len().max(1)
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, label) in labels.iter().chain(templates).enumerate() {
        if label.len() > MAX_TEXT_BYTES {
            return Err(too_long(quoted(label), label.len()));
        }
        if i >= labels.len() {
            continue;
        }
        if label.trim().is_empty() {
            return Err(Error::Input(format!("label {} is empty", i + 1)));
        }
        if !seen.insert(label) {
            return Err(Error::Input(format!("label {} is given twice", quoted(label))));
        }
    }
    if let Some(t) = templates.iter().find(|t| !t.contains(PLACEHOLDER)) {
        return Err(Error::Input(format!("template \"{t}\" has no {PLACEHOLDER} for the label")));
    }
    Ok(())
}

/// Checks texts to embed as they are (`embed_texts`): at most [`MAX_PROMPTS`], each at
/// most [`MAX_TEXT_BYTES`], as labels are.
pub fn check_texts(texts: &[&str]) -> Result<()> {
    if texts.len() > MAX_PROMPTS {
        return Err(Error::Input(format!(
            "{} texts are more than the {MAX_PROMPTS} allowed at once",
            texts.len()
        )));
    }
    if let Some((i, t)) = texts.iter().enumerate().find(|(_, t)| t.len() > MAX_TEXT_BYTES) {
        return Err(too_long(format!("text {} ({})", i + 1, quoted(t)), t.len()));
    }
    Ok(())
}

/// `what` (a label, template or text, as named in the message) is `len` bytes, over
/// [`MAX_TEXT_BYTES`].
fn too_long(what: String, len: usize) -> Error {
    Error::Input(format!(
        "{what} is {len} bytes long, more than the {MAX_TEXT_BYTES} allowed (CLIP reads only its first 75 tokens)"
    ))
}

/// The most prompts (labels × templates) one call encodes: the texts and
/// their embeddings are held at once.
pub const MAX_PROMPTS: usize = 20_000;

/// The longest label or template accepted, in bytes: far beyond the 75 tokens
/// CLIP reads, short enough that tokenizing it is instant.
pub const MAX_TEXT_BYTES: usize = 65_536;

/// A label as messages quote it: at most 60 characters, then an ellipsis.
pub fn quoted(label: &str) -> String {
    match label.char_indices().nth(60) {
        Some((cut, _)) => format!("{:?}…", &label[..cut]),
        None => format!("{label:?}"),
    }
}

/// The prompts to embed, label-major: `labels × templates` (the label itself when
/// there is no template).
pub fn prompts(labels: &[String], templates: &[String]) -> Vec<String> {
    labels
        .iter()
        .flat_map(|label| {
            if templates.is_empty() {
                vec![label.clone()]
            } else {
                templates.iter().map(|t| t.replacen(PLACEHOLDER, label, 1)).collect()
            }
        })
        .collect()
}

fn normalized(v: &[f64]) -> Vec<f64> {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    v.iter().map(|x| x / norm).collect()
}

/// `v / ‖v‖`, computed in f64 (as `F.normalize`, with its 1e-12 floor).
pub fn unit_length(v: &[f32]) -> Vec<f32> {
    normalized(&v.iter().map(|&x| x as f64).collect::<Vec<_>>())
        .into_iter()
        .map(|x| x as f32)
        .collect()
}

/// Cosine similarity of one image with each label. `prompt_embeddings` are the
/// texts of `prompts` (label-major, `per_label` each), any scale: each is
/// normalised, the label's are averaged and renormalised (the paper's prompt
/// ensembling). With one label, this (not its probability, always 1) says how well it fits.
pub fn cosines(image: &[f32], prompt_embeddings: &[Vec<f32>], per_label: usize) -> Vec<f64> {
    let image = normalized(&image.iter().map(|&v| v as f64).collect::<Vec<_>>());
    prompt_embeddings
        .chunks(per_label.max(1))
        .map(|group| {
            let mut mean = vec![0.0; image.len()];
            for e in group {
                for (m, x) in mean
                    .iter_mut()
                    .zip(normalized(&e.iter().map(|&v| v as f64).collect::<Vec<_>>()))
                {
                    *m += x;
                }
            }
            normalized(&mean).iter().zip(&image).map(|(a, b)| a * b).sum::<f64>()
        })
        .collect()
}

/// How a model turns cosines into probabilities, with its raw parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scoring {
    /// CLIP: the softmax over the labels of `exp(logit_scale) · cos`; they sum to 1.
    Softmax { logit_scale: f32 },
    /// SigLIP: `sigmoid(exp(logit_scale) · cos + logit_bias)` for each label on its
    /// own: whether the picture shows it, whatever the other labels are.
    Sigmoid { logit_scale: f32, logit_bias: f32 },
}

impl Scoring {
    /// Each label's probability from its cosine.
    pub fn probabilities(self, cosines: &[f64]) -> Vec<f64> {
        match self {
            Scoring::Softmax { logit_scale } => {
                let scale = (logit_scale as f64).exp();
                softmax(&cosines.iter().map(|c| scale * c).collect::<Vec<_>>())
            }
            Scoring::Sigmoid { logit_scale, logit_bias } => {
                let scale = (logit_scale as f64).exp();
                cosines.iter().map(|c| sigmoid(scale * c + logit_bias as f64)).collect()
            }
        }
    }

    /// Whether each label's probability stands alone (SigLIP) rather than
    /// sharing 1 with the others (CLIP).
    pub fn independent(self) -> bool {
        matches!(self, Scoring::Sigmoid { .. })
    }
}

/// One image's zero-shot answer, in label order.
#[derive(Clone, Debug, PartialEq)]
pub struct ZeroShot {
    /// [`cosines`]: how well each label fits, on its own.
    pub cosines: Vec<f64>,
    /// [`Scoring::probabilities`] of the cosines: CLIP's sum to 1 over the
    /// labels, SigLIP's each stand alone.
    pub probabilities: Vec<f64>,
}

/// Cosines and probabilities over labels for one image.
pub fn zero_shot(
    image: &[f32],
    prompt_embeddings: &[Vec<f32>],
    per_label: usize,
    scoring: Scoring,
) -> ZeroShot {
    let cosines = cosines(image, prompt_embeddings, per_label);
    let probabilities = scoring.probabilities(&cosines);
    ZeroShot { cosines, probabilities }
}

/// `1 / (1 + e^-x)`, on the side that cannot overflow.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

pub fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.iter().map(|e| e / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn prompts_are_label_major() {
        assert_eq!(
            prompts(&s(&["cat", "dog"]), &s(&["a {}", "the {}!"])),
            s(&["a cat", "the cat!", "a dog", "the dog!"])
        );
        assert_eq!(prompts(&s(&["cat"]), &[]), s(&["cat"]));
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(check_inputs(&[], &[]).unwrap_err().to_string().contains("no labels"));
        assert!(check_inputs(&s(&["a", " "]), &[])
            .unwrap_err()
            .to_string()
            .contains("label 2 is empty"));
        assert!(check_inputs(&s(&["a", "a"]), &[])
            .unwrap_err()
            .to_string()
            .contains("\"a\" is given twice"));
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert!(check_inputs(std::slice::from_ref(&long), &[])
            .unwrap_err()
            .to_string()
            .contains("is 65537 bytes long, more than the 65536 allowed"));
        assert!(check_inputs(&s(&["a"]), &[format!("{{}} {long}")])
            .unwrap_err()
            .to_string()
            .contains("more than the 65536 allowed"));
        let many: Vec<String> = (0..=MAX_PROMPTS).map(|i| i.to_string()).collect();
        assert!(check_inputs(&many, &[])
            .unwrap_err()
            .to_string()
            .contains("20001 labels × 1 templates make more than the 20000 prompts"));
        assert!(check_inputs(&many[..MAX_PROMPTS], &[]).is_ok());
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let e = check_texts(&refs).unwrap_err().to_string();
        assert!(e.contains("20001 texts") && e.contains("20000"), "{e}");
        assert!(check_texts(&refs[..MAX_PROMPTS]).is_ok());
        let e = check_texts(&["a", &long]).unwrap_err().to_string();
        assert!(e.contains("text 2") && e.contains("65537 bytes"), "{e}");
        assert!(check_inputs(&s(&["a"]), &s(&["photo"]))
            .unwrap_err()
            .to_string()
            .contains("template \"photo\""));
    }

    fn softmax_with(logit_scale: f32) -> Scoring {
        Scoring::Softmax { logit_scale }
    }

    #[test]
    fn sigmoid_scores_by_hand() {
        // exp(ln 10) = 10, bias -5: cos 1 → σ(5), cos 0 → σ(-5), cos 0.6 → σ(1); no sum to 1.
        let scoring = Scoring::Sigmoid { logit_scale: 10f32.ln(), logit_bias: -5.0 };
        let answer =
            zero_shot(&[1.0, 0.0], &[vec![2.0, 0.0], vec![0.0, 1.0], vec![3.0, 4.0]], 1, scoring);
        let want =
            [1.0 / (1.0 + (-5f64).exp()), 1.0 / (1.0 + 5f64.exp()), 1.0 / (1.0 + (-1f64).exp())];
        for (got, want) in answer.probabilities.iter().zip(want) {
            // exp(ln 10) in f32 is 10 within 4e-7 relative; σ' ≤ 1/4.
            assert!((got - want).abs() < 1e-5, "{:?}", answer.probabilities);
        }
        assert!(scoring.independent() && !softmax_with(0.0).independent());
        // Far past f64's exp range on either side: 0 and 1, never NaN.
        assert_eq!((sigmoid(-1000.0), sigmoid(1000.0)), (0.0, 1.0));
    }

    #[test]
    fn scores_by_hand() {
        // Image along x; label 0 along x, label 1 along y: logits (scale, 0).
        let answer =
            zero_shot(&[2.0, 0.0], &[vec![5.0, 0.0], vec![0.0, 3.0]], 1, softmax_with(2f32.ln()));
        assert_eq!(answer.cosines, [1.0, 0.0]);
        let p = answer.probabilities;
        let e = 2.0f64.exp();
        assert!(
            (p[0] - e / (e + 1.0)).abs() < 1e-7 && (p[1] - 1.0 / (e + 1.0)).abs() < 1e-7,
            "{p:?}"
        );
        // Two templates per label: (x) and (y) average to the diagonal, cos 1/√2.
        let p = zero_shot(
            &[1.0, 0.0],
            &[vec![1.0, 0.0], vec![0.0, 4.0], vec![0.0, 1.0], vec![0.0, 2.0]],
            2,
            softmax_with(0.0),
        )
        .probabilities;
        let (a, b) = (std::f64::consts::FRAC_1_SQRT_2.exp(), 1.0);
        assert!((p[0] - a / (a + b)).abs() < 1e-7, "{p:?}");
        // One label: its probability is 1 whatever it is; its cosine (3, 4)·(1, 0) / 5 = 0.6 says how well it fits.
        assert_eq!(
            zero_shot(&[1.0, 0.0], &[vec![3.0, 4.0]], 1, softmax_with(4.6)).probabilities,
            vec![1.0]
        );
        let c = cosines(&[1.0, 0.0], &[vec![3.0, 4.0], vec![0.0, -2.0]], 1);
        assert!((c[0] - 0.6).abs() < 1e-12 && c[1].abs() < 1e-12, "{c:?}");
    }
}
