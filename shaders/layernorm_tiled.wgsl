// layernorm_tiled.wgsl — y[r, :] = (x[r, :] - mean) / sqrt(var + eps) · gamma + beta
//
// Bindings (group 0):
//   0  uniform Params { rows, cols, eps }
//   1  X     [rows, cols] (read)
//   2  gamma [cols] (read)
//   3  beta  [cols] (read)
//   4  Y     [rows, cols] (write; must not alias X)
// Dispatch: one workgroup of 256 invocations per row; rows past 65535 fold into y
// (row = group.x + group.y · num_workgroups.x). Invocations stride over the columns.
// Mean first, then the variance of the centred values (two passes: no cancellation).
// Workgroups past the last row return before any barrier (the test is workgroup-uniform).

const REDUCE_THREADS: u32 = 256u;

struct Params { rows: u32, cols: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
    let row = group.x + group.y * groups.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    let n = f32(p.cols);

    var sum = 0.0;
    for (var c = lane; c < p.cols; c = c + REDUCE_THREADS) {
        sum = sum + x[base + c];
    }
    let mean = workgroup_sum(sum, lane) / n;

    var squares = 0.0;
    for (var c = lane; c < p.cols; c = c + REDUCE_THREADS) {
        let d = x[base + c] - mean;
        squares = squares + d * d;
    }
    let inv_std = inverseSqrt(workgroup_sum(squares, lane) / n + p.eps);

    for (var c = lane; c < p.cols; c = c + REDUCE_THREADS) {
        y[base + c] = (x[base + c] - mean) * inv_std * gamma[c] + beta[c];
    }
}
