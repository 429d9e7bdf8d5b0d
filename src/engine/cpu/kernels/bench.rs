//! Kernel benchmark of the CPU engine.
//! - [`kernel_timings`]: the rows `webclip bench-kernels --engine cpu` and `www/bench.html`
//!   report, on the same shapes as the WebGPU kernels' ([`MATMUL_SHAPES`]), so
//!   `BENCHMARKS.md` sets both next to numpy's sgemm.
//! - Ignored tests, run in release: GFLOP/s medians of [`matmul`] on ViT-B/32's layer
//!   shapes, f32 and q8 weights (f16 runs the f32 kernels and q4 the q8 ones once loaded),
//!   both panel widths natively, and what the four matmuls of 12 layers take per image:
//!   - native: `cargo test --release --lib engine::cpu::kernels::bench -- --ignored --nocapture`
//!   - wasm (Chromium): `tools/test-browser.sh --release engine::cpu::kernels::bench -- --include-ignored --nocapture`

use super::attention::{attention, Mask};
use super::matmul::{matmul, Epilogue};
use super::norm::layernorm;
use super::panels::Panels;
use crate::clock::{now_ms, spread};
use crate::gpu::random::random;
use crate::ops::bench::{KernelTiming, MATMUL_SHAPES};
use crate::ops::format::{PackedWeight, WeightFormat};
#[cfg(test)]
use crate::ops::matmul::Activation;
#[cfg(test)]
use {
    super::matmul::panel_width,
    super::panels::{NATIVE_NR, WASM_NR},
};

/// Calls of the kernel per timed sample: a 0.4 ms matmul timed alone is mostly clock noise.
const CALLS_PER_SAMPLE: usize = 4;

/// `(median, min, max)` milliseconds per call over `samples` samples of `f`, after a warm-up.
fn per_call(samples: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    f();
    let mut times: Vec<f64> = (0..samples.max(1))
        .map(|_| {
            let t = now_ms();
            (0..CALLS_PER_SAMPLE).for_each(|_| f());
            (now_ms() - t) / CALLS_PER_SAMPLE as f64
        })
        .collect();
    spread(&mut times)
}

fn timing(
    kernel: &'static str,
    format: WeightFormat,
    shape: (String, Vec<usize>, f64),
    times: (f64, f64, f64),
    samples: usize,
) -> KernelTiming {
    KernelTiming::new(("cpu", kernel, format), shape, times, samples)
}

/// The CPU engine's matmul on every shape of [`MATMUL_SHAPES`] with weights in `format`
/// (packed as a load packs them, bias epilogue), and attention and LayerNorm when `format`
/// is f32 (they read no weights), on all of the engine's threads; `only` keeps the kernels
/// whose name contains it. The same shapes and FLOP counts as the WebGPU benchmark.
pub fn kernel_timings(format: WeightFormat, samples: usize, only: &str) -> Vec<KernelTiming> {
    let mut out = Vec::new();
    let wanted =
        |kernel: &str| kernel.contains(only) && (kernel == "matmul" || format == WeightFormat::F32);
    for (what, m, n, k) in MATMUL_SHAPES.into_iter().filter(|_| wanted("matmul")) {
        let panels = Panels::new(&PackedWeight::pack(format, &random(n * k, 2, 0.05), n, k));
        let (x, bias) = (random(m * k, 1, 1.0), random(n, 3, 1.0));
        let mut y = vec![0f32; m * n];
        let t = per_call(samples, || matmul(&x, m, &panels, &Epilogue::bias(&bias), &mut y));
        let shape =
            (format!("{what} ({m}x{k} by {k}x{n})"), vec![m, n, k], 2.0 * (m * n * k) as f64);
        out.push(timing("matmul", format, shape, t, samples));
    }
    let attention_shapes: &[(&str, usize, usize, Mask)] = if wanted("attention") {
        &[
            ("vision, 1 image", 1, 50, Mask::Full),
            ("text, 4 labels of 7 tokens", 4, 7, Mask::Causal),
            ("vision, batch 8", 8, 50, Mask::Full),
        ]
    } else {
        &[]
    };
    for &(what, batch, seq, mask) in attention_shapes {
        let (heads, d) = (12, 64);
        let qkv = random(batch * seq * 3 * heads * d, 4, 1.0);
        let mut o = vec![0f32; batch * seq * heads * d];
        let t = per_call(samples, || attention(&qkv, (batch, seq), (heads, d), mask, &mut o));
        let keys = if matches!(mask, Mask::Causal) { seq * (seq + 1) / 2 } else { seq * seq };
        let flops = 4.0 * (batch * heads * keys * d) as f64;
        let shape = (format!("{what} ({heads} heads of {d})"), vec![batch, seq, heads, d], flops);
        out.push(timing("attention", format, shape, t, samples));
    }
    for (what, rows) in [("vision, 1 image", 50), ("vision, batch 8", 400)]
        .into_iter()
        .filter(|_| wanted("layernorm"))
    {
        let cols = 768;
        let (x, g, b) = (random(rows * cols, 5, 1.0), random(cols, 6, 1.0), random(cols, 7, 1.0));
        let mut y = vec![0f32; rows * cols];
        let t = per_call(samples, || layernorm(&x, &g, &b, cols, 1e-5, &mut y));
        // Mean, variance and the affine output: about 8 operations per element, as on WebGPU.
        let shape =
            (format!("{what} ({rows}x{cols})"), vec![rows, cols], 8.0 * (rows * cols) as f64);
        out.push(timing("layernorm", format, shape, t, samples));
    }
    out
}

/// One ViT-B/32 layer's matmuls: name, n, k.
#[cfg(test)]
const LAYER: [(&str, usize, usize); 4] =
    [("qkv", 2304, 768), ("out", 768, 768), ("fc1", 3072, 768), ("fc2", 768, 3072)];

#[cfg(test)]
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
#[cfg(test)]
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
#[cfg(test)]
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

#[cfg(test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[ignore = "a benchmark: run in release (see the module header)"]
fn matmul_vit_b32_shapes() {
    bench(if cfg!(target_arch = "wasm32") { 10 } else { 30 });
    bench_others(if cfg!(target_arch = "wasm32") { 20 } else { 50 });
}
