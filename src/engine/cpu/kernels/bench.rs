//! Kernel benchmark: GFLOP/s medians of [`matmul`] on ViT-B/32's layer shapes, f32 and q8
//! weights (f16 runs the f32 kernels and q4 the q8 ones once loaded), and what the four
//! matmuls of 12 layers take per image. Ignored tests, run in release:
//! - native: `cargo test --release --lib engine::cpu::kernels::bench -- --ignored --nocapture`
//! - wasm (Chromium): `tools/test-browser.sh --release engine::cpu::kernels::bench -- --include-ignored --nocapture`

use super::attention::{attention, Mask};
use super::matmul::{matmul, panel_width, Epilogue};
use super::norm::layernorm;
use super::panels::{Panels, NATIVE_NR, WASM_NR};
use crate::clock::{now_ms, spread};
use crate::gpu::random::random;
use crate::ops::format::{PackedWeight, WeightFormat};
use crate::ops::matmul::Activation;

/// One ViT-B/32 layer's matmuls: name, n, k.
const LAYER: [(&str, usize, usize); 4] =
    [("qkv", 2304, 768), ("out", 768, 768), ("fc1", 3072, 768), ("fc2", 768, 3072)];

fn bench(reps: usize) {
    let threads = rayon::current_num_threads();
    report!("cpu matmul, {threads} thread(s), median of {reps}");
    // This CPU's path per format (`panel_width`), and natively the other width beside it.
    let mut runs = vec![];
    for format in [WeightFormat::F32, WeightFormat::Q8] {
        runs.push((panel_width(format), format));
        if !cfg!(target_arch = "wasm32") {
            let other = if panel_width(format) == NATIVE_NR { WASM_NR } else { NATIVE_NR };
            runs.push((other, format));
        }
    }
    for (nr, format) in runs {
        for m in [50, 100] {
            let mut layer_ms = 0.0;
            for (name, n, k) in LAYER {
                let w = PackedWeight::pack(format, &random(n * k, 2, 0.05), n, k);
                let panels = Panels::with_width(&w, nr);
                let (x, bias) = (random(m * k, 1, 1.0), random(n, 3, 0.1));
                let mut y = vec![0f32; m * n];
                // The MLP's epilogue (bias, QuickGELU) on fc1, a bias elsewhere: as in the model.
                let act = if name == "fc1" { Activation::QuickGelu } else { Activation::None };
                let epilogue = Epilogue { act, ..Epilogue::bias(&bias) };
                matmul(&x, m, &panels, &epilogue, &mut y);
                let mut times: Vec<f64> = (0..reps)
                    .map(|_| {
                        let t = now_ms();
                        matmul(&x, m, &panels, &epilogue, &mut y);
                        now_ms() - t
                    })
                    .collect();
                let (median, min, _) = spread(&mut times);
                let gflop = 2.0 * (m * n * k) as f64 / 1e9;
                report!(
                    "nr {nr:>3} {:>3} m {m:>3} {name} {n}x{k}: {:6.1} GFLOP/s (median {median:.2} ms, best {:.1} GFLOP/s)",
                    format.name(),
                    gflop / median * 1e3,
                    gflop / min * 1e3
                );
                layer_ms += median;
            }
            report!(
                "nr {nr:>3} {:>3} m {m:>3}: 12 layers' matmuls {:.1} ms",
                format.name(),
                12.0 * layer_ms
            );
        }
    }
}

/// Milliseconds (median of `reps`) of `f`.
fn time_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..reps)
        .map(|_| {
            let t = now_ms();
            f();
            now_ms() - t
        })
        .collect();
    spread(&mut times).0
}

/// One ViT-B/32 image's other per-layer kernels: attention (50 rows, 12 heads of 64) and
/// the two LayerNorms; and CLIP's text (77 tokens, 8 heads of 64, causal).
fn bench_others(reps: usize) {
    let (seq, heads, d) = (50, 12, 64);
    let qkv = random(seq * 3 * heads * d, 1, 1.0);
    let mut out = vec![0f32; seq * heads * d];
    let ms = time_ms(reps, || attention(&qkv, (1, seq), (heads, d), Mask::Full, &mut out));
    report!("attention 1x{seq} {heads}x{d} full: {ms:.3} ms (x12 layers: {:.1} ms)", 12.0 * ms);
    let (seq, heads) = (77, 8);
    let qkv = random(seq * 3 * heads * d, 1, 1.0);
    let mut out = vec![0f32; seq * heads * d];
    let ms = time_ms(reps, || attention(&qkv, (1, seq), (heads, d), Mask::Causal, &mut out));
    report!("attention 1x{seq} {heads}x{d} causal: {ms:.3} ms");
    let (x, g, b) = (random(50 * 768, 2, 1.0), random(768, 3, 1.0), random(768, 4, 1.0));
    let mut y = vec![0f32; 50 * 768];
    let ms = time_ms(reps, || layernorm(&x, &g, &b, 768, 1e-5, &mut y));
    report!("layernorm 50x768: {ms:.3} ms (x25 per image: {:.2} ms)", 25.0 * ms);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[ignore = "a benchmark: run in release (see the module header)"]
fn matmul_vit_b32_shapes() {
    bench(if cfg!(target_arch = "wasm32") { 10 } else { 30 });
    bench_others(if cfg!(target_arch = "wasm32") { 20 } else { 50 });
}
