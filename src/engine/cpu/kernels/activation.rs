//! The MLP activations in f32, as the matmul epilogue applies them: QuickGELU
//! `x · σ(1.702 x)`, exact (erf) GELU and GELU's tanh form (SigLIP's). The f64 references are
//! [`Activation::apply`](crate::ops::matmul::Activation::apply).

use crate::ops::matmul::Activation;

/// `act(v)` in f32.
#[inline]
pub fn apply(act: Activation, v: f32) -> f32 {
    match act {
        Activation::None => v,
        Activation::QuickGelu => v / (1.0 + (-1.702 * v).exp()),
        Activation::Gelu => 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2)),
        Activation::GeluTanh => gelu_tanh(v),
    }
}

/// `v/2 · (1 + tanh(u))`, u = √(2/π) (v + 0.044715 v³), as `v · σ(2u) = v / (1 + e^-2u)`:
/// QuickGELU's form through [`exp`] (branch-free, so loops over it vectorize), with no
/// cancellation for negative v (`1 + tanh(u)` computed as such lost 3e-7 there).
#[inline(always)]
fn gelu_tanh(v: f32) -> f32 {
    let u = 0.797_884_6 * (v + 0.044_715 * v * v * v);
    v / (1.0 + exp(-2.0 * u))
}

/// `act` over a slice in place, the matmul epilogue's form: QuickGELU through [`exp`], a
/// branch-free loop that vectorizes (libm's `expf` per element cost fc1 half its time).
pub fn apply_slice(act: Activation, values: &mut [f32]) {
    match act {
        Activation::None => {}
        Activation::QuickGelu => {
            for v in values {
                *v /= 1.0 + exp(-1.702 * *v);
            }
        }
        Activation::Gelu => {
            for v in values {
                *v = apply(act, *v);
            }
        }
        Activation::GeluTanh => {
            for v in values {
                *v = gelu_tanh(*v);
            }
        }
    }
}

/// e^x in f32 to ~2 ulp without a libm call, so loops over it vectorize: x = n ln 2 + r with
/// |r| ≤ ln 2 / 2 (ln 2 split in two for an exact `n ln 2`), e^r by the degree-6 polynomial
/// of Cephes' `expf`, 2^n put in the exponent bits. x is clamped to [-87.3, 88.3] (results
/// below f32's normal range flush toward 1e-38 instead of 0: QuickGELU's `v / (1 + e^-x)`
/// cannot tell).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2²³: adding and subtracting it rounds to the nearest integer (round() would be a
    // libm call on x86_64's baseline).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// erf in f32 to ~1e-7: erfc(|x|) = t · exp(-x² + P(t)), t = 1 / (1 + |x| / 2), P of degree 9
/// (the Chebyshev-fitted `erfcc` of Numerical Recipes, fractional error below 1.2e-7 for
/// every x), evaluated in f64 and rounded once. Costs one f64 exp: GELU is only for the
/// models that ask for it (OpenAI's use QuickGELU).
pub fn erf(x: f32) -> f32 {
    let z = (x as f64).abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398
                                + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * poly.exp();
    let erf = 1.0 - erfc;
    (if x < 0.0 { -erf } else { erf }) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn activations_match_the_f64_references() {
        let mut worst = [0f64; 4];
        let all = [Activation::None, Activation::QuickGelu, Activation::Gelu, Activation::GeluTanh];
        for i in -8000..=8000 {
            let v = i as f32 / 1000.0;
            for (a, act) in all.iter().enumerate() {
                let want = act.apply(v as f64);
                let err = (apply(*act, v) as f64 - want).abs() / (1.0 + want.abs());
                worst[a] = worst[a].max(err);
            }
        }
        // Measured 0, 8.9e-8, 8.2e-8 and 9.0e-8 (f32 rounding of exp and of the result); 1e-6 is 11x.
        report!("activation errors (relative to 1 + |y|): {worst:?}");
        assert!(worst.iter().all(|&e| e < 1e-6), "{worst:?}");
        // The slice forms (through the polynomial exp) against the f64 references.
        for act in [Activation::QuickGelu, Activation::GeluTanh] {
            let mut worst_slice = 0f64;
            let mut values: Vec<f32> = (-8000..=8000).map(|i| i as f32 / 1000.0).collect();
            let inputs = values.clone();
            apply_slice(act, &mut values);
            for (&v, &x) in values.iter().zip(&inputs) {
                let want = act.apply(x as f64);
                worst_slice = worst_slice.max((v as f64 - want).abs() / (1.0 + want.abs()));
            }
            // Measured 8.9e-8 (QuickGELU) and 9.0e-8 (tanh GELU).
            report!("{act:?} slice error: {worst_slice:.1e}");
            assert!(worst_slice < 1e-6, "{act:?}: {worst_slice}");
        }
        // exp itself, relative, over the range QuickGELU meets and past it.
        let mut worst_exp = 0f64;
        for i in -870..=880 {
            let x = i as f32 / 10.0;
            let want = (x as f64).exp();
            worst_exp = worst_exp.max((exp(x) as f64 - want).abs() / want);
        }
        // Measured 7.3e-8 (~1 ulp).
        report!("exp relative error: {worst_exp:.1e}");
        assert!(worst_exp < 1e-6, "{worst_exp}");
    }
}
