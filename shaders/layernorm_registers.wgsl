// layernorm_registers.wgsl — y[r, :] = (x[r, :] - mean) / sqrt(var + eps) · gamma + beta, for
// CPU-backed adapters (`KernelFamily::Registers`): one invocation per row, no barriers.
//
// Bindings (group 0), the same as layernorm_tiled.wgsl:
//   0  uniform Params { rows, cols, eps }
//   1  X     [rows, cols] (read)
//   2  gamma [cols] (read)
//   3  beta  [cols] (read)
//   4  Y     [rows, cols] (write; must not alias X)
// Dispatch: ceil(rows / WG) workgroups of WG invocations, folded into y past 65535
// (row = id.x + id.y · num_workgroups.x · WG). Mean first, then the variance of the centred
// values (two passes: no cancellation), then the output: three reads of a row that stays in the
// CPU's cache. A tree reduction over 3 elements per invocation (the tiled kernel's) costs a
// barrier per level on a software adapter; a row per invocation costs none, and consecutive
// invocations in SIMD lanes read the same gamma and beta.

struct Params { rows: u32, cols: u32, eps: f32, _pad: u32 }

override WG: u32 = 8u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let row = id.x + id.y * groups.x * WG;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    let n = f32(p.cols);
    var sum = 0.0;
    for (var c = 0u; c < p.cols; c = c + 1u) {
        sum = sum + x[base + c];
    }
    let mean = sum / n;
    var squares = 0.0;
    for (var c = 0u; c < p.cols; c = c + 1u) {
        let d = x[base + c] - mean;
        squares = fma(d, d, squares);
    }
    let inv_std = inverseSqrt(squares / n + p.eps);
    for (var c = 0u; c < p.cols; c = c + 1u) {
        y[base + c] = (x[base + c] - mean) * inv_std * gamma[c] + beta[c];
    }
}
