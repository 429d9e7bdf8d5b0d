// epilogue.wgsl — the end of every linear layer, shared by both matmul families:
// v = act(acc + bias) + residual, four columns at a time.
//
// The including kernel declares `p: Params` with `n` and `flags`, and bindings `bias`
// (array<f32>, [n]) and `residual` (array<f32>, [m, n]).
// flags: bit 0 HAS_BIAS, bit 1 HAS_RESIDUAL, bits 2-3 the activation (0 none,
// 1 QuickGELU x·σ(1.702x), 2 exact (erf) GELU, 3 GELU's tanh form, SigLIP's).

const HAS_BIAS: u32 = 1u;
const HAS_RESIDUAL: u32 = 2u;
const ACT_QUICK_GELU: u32 = 1u;
const ACT_GELU: u32 = 2u;
const ACT_GELU_TANH: u32 = 3u;

// Standard normal CDF Φ(v) through erfc (Numerical Recipes' Chebyshev fit, relative error
// < 1.2e-7 everywhere), evaluated on the side that avoids cancellation so x·Φ(x) stays accurate
// relative to its value for large negative x.
fn normal_cdf(v: vec4<f32>) -> vec4<f32> {
    let z = abs(v) * 0.70710678118654752;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let half_erfc = 0.5 * t * exp(-z * z + poly);
    return select(half_erfc, 1.0 - half_erfc, v >= vec4<f32>(0.0));
}

fn activate(v: vec4<f32>, act: u32) -> vec4<f32> {
    if (act == ACT_QUICK_GELU) {
        return v / (1.0 + exp(-1.702 * v));
    }
    if (act == ACT_GELU) {
        return v * normal_cdf(v);
    }
    if (act == ACT_GELU_TANH) {
        // v/2 · (1 + tanh(u)) = v · σ(2u): no tanh (NaN past |u| ~ 44 on some drivers) and no
        // cancellation for negative v. u is clamped where e^-2u would overflow.
        let u = max(0.7978845608028654 * (v + 0.044715 * v * v * v), vec4<f32>(-40.0));
        return v / (1.0 + exp(-2.0 * u));
    }
    return v;
}

// Stores act(acc + bias) + residual at row `row`, columns col .. col + 3; columns at or
// past n are dropped (their accumulators hold clamped-load garbage).
fn store4(row: u32, col: u32, acc: vec4<f32>) {
    var v = acc;
    let last = p.n - 1u;
    let cols = min(vec4<u32>(col) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last));
    if ((p.flags & HAS_BIAS) != 0u) {
        v = v + vec4<f32>(bias[cols.x], bias[cols.y], bias[cols.z], bias[cols.w]);
    }
    v = activate(v, (p.flags >> 2u) & 3u);
    let base = row * p.n;
    if ((p.flags & HAS_RESIDUAL) != 0u) {
        v = v + vec4<f32>(residual[base + cols.x], residual[base + cols.y], residual[base + cols.z], residual[base + cols.w]);
    }
    for (var j = 0u; j < 4u; j = j + 1u) {
        if (col + j < p.n) {
            y[base + col + j] = v[j];
        }
    }
}
