// l2_normalize.wgsl — y[r, :] = x[r, :] / max(‖x[r, :]‖₂, 1e-12), as torch.nn.functional.normalize.
//
// Bindings (group 0):
//   0  uniform Params { rows, cols }
//   1  X [rows, cols] (read)
//   2  Y [rows, cols] (write; must not alias X)
// Dispatch: one workgroup of 256 invocations per row, folded into y past 65535 rows;
// workgroups past the last row return before any barrier (workgroup-uniform test).

const REDUCE_THREADS: u32 = 256u;

struct Params { rows: u32, cols: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>,
        @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
    let row = group.x + group.y * groups.x;
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;
    var squares = 0.0;
    for (var c = lane; c < p.cols; c = c + REDUCE_THREADS) {
        squares = squares + x[base + c] * x[base + c];
    }
    let inv_norm = 1.0 / max(sqrt(workgroup_sum(squares, lane)), 1e-12);
    for (var c = lane; c < p.cols; c = c + REDUCE_THREADS) {
        y[base + c] = x[base + c] * inv_norm;
    }
}
