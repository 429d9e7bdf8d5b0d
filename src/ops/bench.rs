//! Kernel benchmark (`webclip bench-kernels`, `www/bench.html`): GFLOP/s of
//! each kernel family on the shapes a ViT-B/32 CLIP really runs.
//!
//! Each measurement records `reps` dispatches of one bound kernel into one
//! pass, submits it with a 4-byte readback and times submit-to-readback; the
//! median of `samples` such runs is reported (after one warm-up run, which
//! also pays for any lazy pipeline compilation).

use serde::Serialize;

use crate::clock::{now_ms, spread};
use crate::error::Result;
use crate::gpu::{random::random, Gpu, Step, Uniform};

use super::attention::{self, AttentionParams, Mask};
use super::layernorm::{self, LayerNormParams};
use super::matmul::{self, EpilogueFlags, MatmulParams};
use super::{Kernels, PackedWeight, WeightFormat};

/// One kernel on one shape.
#[derive(Clone, Debug, Serialize)]
pub struct KernelTiming {
    pub family: &'static str,
    pub kernel: &'static str,
    /// The weight format (matmul only reads weights; the others say f32).
    pub weights: &'static str,
    /// Where CLIP runs this shape, e.g. "vision fc1 (50x768 by 768x3072)".
    pub shape: String,
    /// matmul: [m, n, k]; attention: [batch, seq, heads, head_dim]; layernorm: [rows, cols].
    pub dims: Vec<usize>,
    pub flops: f64,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub gflops: f64,
    pub samples: usize,
}

impl KernelTiming {
    /// `family`'s `kernel` on `weights` and `shape` (e.g. "vision fc1 (50x768 by 768x3072)",
    /// its `dims` and `flops`), from the `(median, min, max)` milliseconds of `samples` runs.
    pub fn new(
        (family, kernel, weights): (&'static str, &'static str, WeightFormat),
        (shape, dims, flops): (String, Vec<usize>, f64),
        (median_ms, min_ms, max_ms): (f64, f64, f64),
        samples: usize,
    ) -> KernelTiming {
        // Only matmul reads weights; the others say f32.
        let weights = if kernel == "matmul" { weights } else { WeightFormat::F32 };
        KernelTiming {
            family,
            kernel,
            weights: weights.name(),
            shape,
            dims,
            flops,
            median_ms,
            min_ms,
            max_ms,
            gflops: flops / median_ms / 1e6,
            samples,
        }
    }
}

/// ViT-B/32's matmul shapes (m, n, k): one image is 50 tokens, a batch of 8 is 400, four
/// short labels about 4 × 7 rows (the issue asks for 4 × 512 by 512 × 1536).
pub const MATMUL_SHAPES: [(&str, usize, usize, usize); 5] = [
    ("vision qkv", 50, 2304, 768),
    ("vision fc2", 50, 768, 3072),
    ("vision fc1", 50, 3072, 768),
    ("text qkv, 4 rows", 4, 1536, 512),
    ("vision out_proj, batch 8", 400, 768, 768),
];

/// Median, min and max of `samples` timed runs of `steps` dispatched over their extents.
async fn time(
    gpu: &Gpu,
    steps: &[(&Step, [u32; 3])],
    reps: usize,
    samples: usize,
    out: &crate::gpu::GpuBuffer,
) -> Result<(f64, f64, f64)> {
    let run = || async {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            for _ in 0..reps {
                for (step, extent) in steps {
                    step.dispatch_over(&mut pass, *extent);
                }
            }
        }
        gpu.submit_and_read(encoder, out, 1).await
    };
    run().await?;
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = now_ms();
        run().await?;
        times.push((now_ms() - start) / reps as f64);
    }
    Ok(spread(&mut times))
}

fn timing(
    k: &Kernels,
    kernel: &'static str,
    shape: (String, Vec<usize>, f64),
    times: (f64, f64, f64),
    samples: usize,
) -> KernelTiming {
    KernelTiming::new((k.family.name(), kernel, k.format), shape, times, samples)
}

/// Times matmul (every shape of [`MATMUL_SHAPES`]) of `k`'s family and weight
/// format, and attention and LayerNorm when the format is f32 (they read no
/// weights); `only` keeps the kernels whose name contains it.
pub async fn run(gpu: &Gpu, k: &Kernels, samples: usize, only: &str) -> Result<Vec<KernelTiming>> {
    let mut out = Vec::new();
    let wanted = |kernel: &str| {
        kernel.contains(only) && (kernel == "matmul" || k.format == WeightFormat::F32)
    };
    for (what, m, n, kk) in MATMUL_SHAPES.into_iter().filter(|_| wanted("matmul")) {
        let params = MatmulParams::new(m, n, kk, EpilogueFlags::BIAS);
        let y = gpu.scratch("y", m * n);
        let w = PackedWeight::pack(k.format, &random(n * kk, 2, 0.05), n, kk).upload(gpu, "w");
        let step = matmul::bind(
            &k.matmul,
            gpu,
            &Uniform::new(gpu, "bench", &params),
            &gpu.upload("x", &random(m * kk, 1, 1.0)),
            &w,
            Some(&gpu.upload("b", &random(n, 3, 1.0))),
            None,
            &y,
        );
        let flops = 2.0 * (m * n * kk) as f64;
        let t = time(gpu, &[(&step, params.extent())], 4, samples, &y).await?;
        out.push(timing(
            k,
            "matmul",
            (format!("{what} ({m}x{kk} by {kk}x{n})"), vec![m, n, kk], flops),
            t,
            samples,
        ));
    }
    let attention_shapes = if wanted("attention") {
        &[
            ("vision, 1 image", 1, 50, false),
            ("text, 4 labels of 7 tokens", 4, 7, true),
            ("vision, batch 8", 8, 50, false),
        ][..]
    } else {
        &[]
    };
    for &(what, batch, seq, causal) in attention_shapes {
        let (heads, head_dim) = (12, 64);
        let mask = if causal { Mask::Causal } else { Mask::Full };
        let params = AttentionParams::new(batch, seq, heads, head_dim, mask);
        let o = gpu.scratch("o", batch * seq * heads * head_dim);
        let step = attention::bind(
            &k.attention,
            gpu,
            &Uniform::new(gpu, "bench", &params),
            &gpu.upload("qkv", &random(batch * seq * 3 * heads * head_dim, 4, 1.0)),
            &o,
        );
        let keys = if causal { (seq * (seq + 1) / 2) as f64 } else { (seq * seq) as f64 };
        let flops = 4.0 * batch as f64 * heads as f64 * keys * head_dim as f64;
        let t = time(gpu, &[(&step, params.extent())], 4, samples, &o).await?;
        out.push(timing(
            k,
            "attention",
            (
                format!("{what} ({heads} heads of {head_dim})"),
                vec![batch, seq, heads, head_dim],
                flops,
            ),
            t,
            samples,
        ));
    }
    for (what, rows) in [("vision, 1 image", 50), ("vision, batch 8", 400)]
        .into_iter()
        .filter(|_| wanted("layernorm"))
    {
        let cols = 768;
        let params = LayerNormParams::new(rows, cols, 1e-5);
        let y = gpu.scratch("y", rows * cols);
        let step = layernorm::bind(
            &k.layernorm,
            gpu,
            &Uniform::new(gpu, "bench", &params),
            &gpu.upload("x", &random(rows * cols, 5, 1.0)),
            &gpu.upload("g", &random(cols, 6, 1.0)),
            &gpu.upload("b", &random(cols, 7, 1.0)),
            &y,
        );
        // Mean, variance and the affine output: about 8 operations per element.
        let t = time(gpu, &[(&step, params.extent())], 4, samples, &y).await?;
        out.push(timing(
            k,
            "layernorm",
            (format!("{what} ({rows}x{cols})"), vec![rows, cols], 8.0 * (rows * cols) as f64),
            t,
            samples,
        ));
    }
    Ok(out)
}
