//! The matmul paths against the f64 reference, every weight format, odd shapes.

use super::*;
use crate::engine::cpu::kernels::panels::{Panels, NATIVE_NR, WASM_NR};
use crate::gpu::testing::{assert_close, random};
use crate::ops::format::{PackedWeight, WeightFormat};

/// Largest `|got - want|` over `scale`, to report what a path measured.
fn max_err(got: &[f32], want: &[f64]) -> f64 {
    got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).abs()).fold(0.0, f64::max)
}

/// Runs `path` on `(m, n, k)` with the given epilogue parts for every format; returns the
/// worst error seen per format, after checking it against the tolerance.
fn check(
    name: &str,
    path: Path,
    nr: usize,
    (m, n, k): (usize, usize, usize),
    (bias, act, residual): (bool, Activation, u8),
) -> [f64; 4] {
    let x = random(m * k, 1, 1.0);
    let w = random(n * k, 2, 0.5);
    let b = random(n, 3, 1.0);
    let res = random(m * n, 4, 1.0);
    let mut worst = [0.0; 4];
    for (f, format) in WeightFormat::ALL.into_iter().enumerate() {
        let panels = Panels::with_width(&PackedWeight::pack(format, &w, n, k), nr);
        let epilogue = Epilogue {
            bias: bias.then_some(&b[..]),
            act,
            residual: match residual {
                0 => Residual::None,
                1 => Residual::Rows(&res),
                _ => Residual::InPlace,
            },
        };
        let mut y = if residual == 2 { res.clone() } else { vec![f32::NAN; m * n] };
        let want = reference(&x, m, &panels, &epilogue, &res);
        path(&x, m, &panels, &epilogue, &mut y);
        // f32 weights: f32 sums of k terms of |x·w| ≤ 0.5, rounding ~ k · 2⁻²⁴ · 0.5 at worst
        // (1e-4 relative kept from the GPU tests; measured ≤ 2e-6 at k = 1000).
        // i8 weights (portable and wasm: x quantized to i16): x errs by ≤ 2⁻¹⁶ per element
        // (max |x| = 1), a random walk over k terms times |w| ≤ 0.5: about
        // e = 2⁻¹⁶ · 0.5 · √(k / 3). Measured 3.7e-4 at k = 3072, 1.5 e (the worst of 140
        // outputs, ~3σ); the tolerance 30 e is 20x above it. (Natively i8 panels are
        // dequantized and multiplied in f32: 1.3e-5.)
        let atol = match format {
            WeightFormat::F32 | WeightFormat::F16 => 1e-5,
            _ => 1e-5 + 30.0 * 0.5 * (k as f64 / 3.0).sqrt() / 65536.0,
        };
        assert_close(
            &format!(
                "{name} {format:?} nr {nr} {m}x{n}x{k} bias={bias} {act:?} residual={residual}"
            ),
            &y,
            &want,
            atol,
            1e-4,
        );
        worst[f] = max_err(&y, &want);
    }
    worst
}

/// Shapes whose m, n and k are not multiples of the blocking (4 rows, 64-row blocks, 16 or
/// 128 columns, 32-blocks), and the ViT-B/32 MLP's k.
const SHAPES: [(usize, usize, usize); 8] = [
    (1, 1, 1),
    (5, 37, 70),
    (4, 16, 32),
    (9, 130, 45),
    (50, 33, 129),
    (3, 300, 1000),
    (7, 20, 3072),
    (131, 19, 40),
];

/// A matmul implementation under test.
type Path = fn(&[f32], usize, &Panels, &Epilogue, &mut [f32]);

fn paths() -> Vec<(&'static str, Path, usize)> {
    vec![
        // Every width `matmul` takes: 16 (wasm; natively AVX2 where present), 128 (natively
        // matrixmultiply), 6 (the portable path on wasm, matrixmultiply natively).
        ("matmul", matmul as Path, WASM_NR),
        ("matmul", matmul, NATIVE_NR),
        ("matmul", matmul, 6),
        ("portable", matmul_portable, WASM_NR),
        ("portable", matmul_portable, 6),
    ]
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn matmul_odd_shapes_every_format() {
    for (name, path, nr) in paths() {
        let mut worst = [0f64; 4];
        for shape in SHAPES {
            let w = check(name, path, nr, shape, (false, Activation::None, 0));
            for f in 0..4 {
                worst[f] = worst[f].max(w[f]);
            }
        }
        report!(
            "{name} nr {nr}: max |err| f32 {:.1e} f16 {:.1e} q8 {:.1e} q4 {:.1e}",
            worst[0],
            worst[1],
            worst[2],
            worst[3]
        );
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn matmul_epilogues() {
    for (name, path, nr) in paths() {
        for act in [Activation::None, Activation::QuickGelu, Activation::Gelu, Activation::GeluTanh]
        {
            for residual in 0..3 {
                check(name, path, nr, (37, 97, 44), (true, act, residual));
                check(name, path, nr, (6, 33, 130), (residual == 1, act, residual));
            }
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn quantized_rows_round_trip() {
    let x = random(3 * 70, 8, 2.0);
    let (q, s) = quantize_rows(&x, 3, 70, 96);
    for r in 0..3 {
        let max = x[r * 70..][..70].iter().fold(0f32, |a, v| a.max(v.abs()));
        assert!(q[r * 96..][..70].iter().any(|&v| v.abs() == 32767));
        assert!(q[r * 96 + 70..][..26].iter().all(|&v| v == 0), "padding is zero");
        for i in 0..70 {
            let err = (q[r * 96 + i] as f32 * s[r] - x[r * 70 + i]).abs();
            assert!(err <= max / 65534.0 * 1.001, "row {r} [{i}]: {err}");
        }
    }
    // A zero row: zero scale, zero values, no NaN.
    let (q, s) = quantize_rows(&[0.0; 8], 1, 8, 32);
    assert!(s[0] == 0.0 && q.iter().all(|&v| v == 0));
}
