// matmul_tiled.wgsl — Y = act(X · W + bias) + R for real GPUs: the family `KernelFamily::Tiled`.
//
// Bindings (group 0), the same as matmul_registers.wgsl, so one packed weight serves both:
//   0  uniform Params { m, n, k, flags } (flags: see common/epilogue.wgsl)
//   1  X    [m, k] f32, row-major (read)
//   2  W    the weight [n, k] in one of the formats of shaders/formats/ (src/ops/format.rs),
//           read only through the included `weight_block`
//   3  bias [n] (read)   4  R [m, n] residual (read; must not alias Y)   5  Y [m, n] (write)
//
// Dispatch: (ceil(n / 32), ceil(m / 32), 1) workgroups of 8 × 8 invocations. A workgroup owns a
// 32 × 32 block of Y; invocation (tx, ty) owns rows 4ty .. 4ty + 3 and the vec4 column tx. K is
// walked in slabs of 32 staged in workgroup memory: X as a 32 × 32 block (16 scalars loaded per
// invocation, consecutive invocations on consecutive k: coalesced), W as 32 rows of 8 vec4: each
// invocation dequantizes one 4 k × 4 column block (`weight_block`; consecutive invocations on
// consecutive column groups: f32 reads 64 contiguous bytes each) and stores its transpose. Out of
// range rows, columns and k load zeros and are never stored, so no shape needs padding.
//
// Tile sizes follow the packed-vec4 matmul of TensorFlow.js' WebGPU backend, which
// onnxruntime-web's WebGPU EP reuses (matmul_packed_webgpu.ts: workgroup [8, 8, 1], 4 × 4
// elements per thread, inner tile 32): 64 invocations fill two 32-wide warps or one 64-wide
// wavefront, each invocation does 16 FMAs per 5 workgroup-memory reads (4 broadcast scalars and
// one vec4), and the 8 KiB of tiles leave room for several resident workgroups per core.
// Nobody on this project can time it on a real GPU (www/bench.html reports it); CI checks that
// it is correct on both software adapters.

struct Params { m: u32, n: u32, k: u32, flags: u32 }

const TILE: u32 = 32u;       // rows, columns and k per slab
const VEC_COLS: u32 = 8u;    // TILE / 4 vec4 columns

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<WeightWord>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

var<workgroup> x_tile: array<array<f32, TILE>, TILE>;          // [row][k]
var<workgroup> w_tile: array<array<vec4<f32>, VEC_COLS>, TILE>; // [k][vec4 column]

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) group: vec3<u32>,
        @builtin(local_invocation_id) local: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
    let row0 = group.y * TILE;
    let c40 = group.x * VEC_COLS;
    let n4 = (p.n + 3u) / 4u;
    var acc0 = vec4<f32>();
    var acc1 = vec4<f32>();
    var acc2 = vec4<f32>();
    var acc3 = vec4<f32>();

    for (var k0 = 0u; k0 < p.k; k0 = k0 + TILE) {
        for (var e = lane; e < TILE * TILE; e = e + 64u) {
            let r = e / TILE;
            let kk = e % TILE;
            var v = 0.0;
            if (row0 + r < p.m && k0 + kk < p.k) {
                v = x[(row0 + r) * p.k + k0 + kk];
            }
            x_tile[r][kk] = v;
        }
        // 8 k4 × 8 column groups: one weight block per invocation.
        let kk4 = lane / VEC_COLS;
        let c = lane % VEC_COLS;
        var b = mat4x4<f32>();
        if (c40 + c < n4 && k0 + 4u * kk4 < p.k) {
            b = transpose(weight_block(k0 / 4u + kk4, c40 + c, p.n, p.k));
        }
        w_tile[4u * kk4][c] = b[0];
        w_tile[4u * kk4 + 1u][c] = b[1];
        w_tile[4u * kk4 + 2u][c] = b[2];
        w_tile[4u * kk4 + 3u][c] = b[3];
        workgroupBarrier();
        let r = 4u * local.y;
        for (var kk = 0u; kk < TILE; kk = kk + 1u) {
            let b = w_tile[kk][local.x];
            acc0 = fma(vec4<f32>(x_tile[r][kk]), b, acc0);
            acc1 = fma(vec4<f32>(x_tile[r + 1u][kk]), b, acc1);
            acc2 = fma(vec4<f32>(x_tile[r + 2u][kk]), b, acc2);
            acc3 = fma(vec4<f32>(x_tile[r + 3u][kk]), b, acc3);
        }
        workgroupBarrier();
    }

    let row = row0 + 4u * local.y;
    let col = (c40 + local.x) * 4u;
    if (col < p.n) {
        if (row < p.m) { store4(row, col, acc0); }
        if (row + 1u < p.m) { store4(row + 1u, col, acc1); }
        if (row + 2u < p.m) { store4(row + 2u, col, acc2); }
        if (row + 3u < p.m) { store4(row + 3u, col, acc3); }
    }
}
