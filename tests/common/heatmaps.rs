//! Heatmaps (ClearCLIP, `src/model/heatmap/`) against `tools/make_heatmap_fixtures.py`'s
//! float64 reference on transformers' `CLIPModel`: at the model's own input size
//! and at 1.5x and 2x with interpolated position embeddings, on every engine.
//!
//! Tolerances, about 20x the worst measured on lavapipe and the CPU engine (f32
//! weights): cosines within 2e-6 absolute (measured up to 9.7e-8) and probabilities
//! within 1.5e-5 (measured up to 6.6e-7). The cosine bound is what catches the
//! interpolation: Keys' cubic (A = -0.5) instead of PyTorch's A = -0.75 moved a
//! cosine by 7.3e-5 at 63 px.

use super::{strings, Fixture, On};
use webclip::gpu::Gpu;
use webclip::model::WeightFormat;

const MAX_COSINE_ERROR: f64 = 2e-6;
const MAX_PROBABILITY_ERROR: f64 = 1.5e-5;

pub async fn check_heatmaps(fixture: &Fixture, gpu: &Gpu) {
    let listing: serde_json::Value =
        serde_json::from_slice(&(fixture.read)("expected/heatmaps.json")).unwrap();
    let labels = strings(&listing, "labels");
    let templates = vec![listing["template"].as_str().unwrap().to_string()];
    for on in On::ENGINES {
        let m = fixture.load(gpu, on, WeightFormat::F32).await;
        let (mut worst_cos, mut worst_prob) = (0.0f64, 0.0f64);
        for (i, case) in listing["cases"].as_array().unwrap().iter().enumerate() {
            let image = fixture.image(case["image"].as_str().unwrap());
            let size = case["resolution"].as_u64().unwrap() as usize;
            let what = format!("{} ({}) heatmap {i}, {size} px", fixture.name, on.name());
            let got = m.heatmap(&image, &labels, &templates, Some(size)).await.unwrap();
            let grid = (case["rows"].as_u64().unwrap(), case["cols"].as_u64().unwrap());
            assert_eq!((got.rows as u64, got.cols as u64), grid, "{what}: grid");
            assert_eq!(got.resolution, size, "{what}: resolution");
            for (kind, maps, max, worst) in [
                ("cosines", &got.cosines, MAX_COSINE_ERROR, &mut worst_cos),
                ("probs", &got.maps, MAX_PROBABILITY_ERROR, &mut worst_prob),
            ] {
                let want = fixture.expected(&format!("heatmap_{i}_{kind}.npy")).rows();
                assert_eq!(maps.len(), want.len(), "{what}: {kind} per label");
                for (l, (g, w)) in maps.iter().zip(&want).enumerate() {
                    assert_eq!(g.len(), w.len(), "{what}: {kind} of label {l}");
                    for (p, (&a, &b)) in g.iter().zip(w).enumerate() {
                        let err = (f64::from(a) - b).abs();
                        assert!(
                            err <= max,
                            "{what}: {kind} of label {l}, patch {p}: {a} against {b}"
                        );
                        *worst = worst.max(err);
                    }
                }
            }
        }
        report!(
            "{} ({}) heatmaps: worst cosine error {worst_cos:.2e}, probability {worst_prob:.2e}",
            fixture.name,
            on.name()
        );
    }
}
