// im2col.wgsl — cut images into patch rows, so the stride-p patch convolution becomes one matmul
// against the conv weight [width, channels, p, p], which is already a row-major [width, channels·p·p].
//
// Bindings (group 0):
//   0  uniform Params { batch, channels, image_size, patch_size }
//   1  pixels  [batch, channels, image_size, image_size] (read)
//   2  patches [batch · grid², channels · patch_size²] (write), grid = image_size / patch_size (floor,
//              like a stride-p convolution: a remainder strip is ignored)
// Dispatch: one invocation per element of `patches`, 256 per workgroup, folded into y past
// 65535 workgroups; invocations past the end return.

struct Params { batch: u32, channels: u32, image_size: u32, patch_size: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pixels: array<f32>;
@group(0) @binding(2) var<storage, read_write> patches: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let e = id.x + id.y * groups.x * 256u;
    let grid = p.image_size / p.patch_size;
    let area = p.patch_size * p.patch_size;
    let cols = p.channels * area;
    if (e >= p.batch * grid * grid * cols) {
        return;
    }
    let col = e % cols;
    let row = e / cols;
    let b = row / (grid * grid);
    let cell = row % (grid * grid);
    let c = col / area;
    let yy = (cell / grid) * p.patch_size + (col % area) / p.patch_size;
    let xx = (cell % grid) * p.patch_size + col % p.patch_size;
    patches[e] = pixels[((b * p.channels + c) * p.image_size + yy) * p.image_size + xx];
}
