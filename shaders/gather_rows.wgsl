// gather_rows.wgsl — dst[i, :] = src[index[i], :]; the pooling step (class token of each image,
// end-of-text token of each text), with the indices computed on the CPU from the token ids.
//
// Bindings (group 0):
//   0  uniform Params { rows, width }   rows = number of gathered rows
//   1  index [rows] u32 (read; each < rows of src, checked on the CPU)
//   2  src [*, width] (read)
//   3  dst [rows, width] (write)
// Dispatch: one invocation per element of `dst`, 256 per workgroup, folded into y past 65535
// workgroups; invocations past the end return.

struct Params { rows: u32, width: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> index: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let e = id.x + id.y * groups.x * 256u;
    if (e >= p.rows * p.width) {
        return;
    }
    dst[e] = src[index[e / p.width] * p.width + e % p.width];
}
