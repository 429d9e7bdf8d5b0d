// matmul_registers.wgsl — Y = act(X · W + bias) + R for CPU-backed adapters (lavapipe,
// SwiftShader): the family `KernelFamily::Registers` picks.
//
// Bindings (group 0), the same as matmul_tiled.wgsl:
//   0  uniform Params { m, n, k, flags } (flags: see common/epilogue.wgsl)
//   1  X    [m, k] f32, row-major, read as vec4s (buffers are whole vec4s: `Gpu::upload`, `scratch`)
//   2  W    the weight [n, k] in one of the formats of shaders/formats/ (K-major units of
//           consecutive k per output column, zero-padded: src/ops/format.rs), read only through
//           the included `weight_block`
//   3  bias [n] (read; used when flags has HAS_BIAS)
//   4  R    [m, n] residual (read; used when flags has HAS_RESIDUAL; must not alias Y)
//   5  Y    [m, n] (write)
//
// Dispatch: (ceil(n / (16 · WG)), ceil(m / 8), 1) workgroups of WG invocations. Workgroup
// (gx, gy) owns rows 8gy .. 8gy + 7; its invocation i owns columns 16(gx · WG + i) .. + 15, kept
// in eight mat4x4 accumulators (one per row, four vec4 column groups each). Per four k it takes
// one 4 × 4 weight block per column group (`weight_block`: dequantized in registers) and one vec4
// of X per row. Loads past the last
// row or column are clamped to it (valid addresses, results never stored): the k loop has no
// branches. No workgroup memory, no barriers.
//
// Why this shape: a software adapter runs the invocations of a workgroup side by side in SIMD
// lanes and pays for every load lane by lane, while a barrier is a thread switch and workgroup
// memory one more copy. So each invocation keeps a whole 8 × 16 tile in named values (an indexed
// private array would live in memory), and per four k does 8 vec4 loads of X and 4 blocks of
// weights (f32: 16 vec4; q8: 16 words and 4 of scales) for 512 FMAs. The rows
// come from the workgroup id, the same for every lane, so X's loads are uniform. Measured on
// lavapipe (2 cores; `webclip bench-kernels`), ViT-B/32's shapes: 8 × 16 per invocation reaches
// 20-29 GFLOP/s; 4 × 16 gave 18-21, 16 × 8 20-26, 16 × 16 19-31 (more padding rows at m = 50),
// 16 × 4 6-7; lanes over rows with W uniform instead 3-7; the workgroup-tiled kernel 3.4-3.8.

struct Params { m: u32, n: u32, k: u32, flags: u32 }

// Invocations per workgroup, along N (the registry sets it per adapter).
override WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<WeightWord>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

// X[row, 4k4 .. 4k4 + 3] for any k (the slow path): zeros past the row's end.
fn x_unit(row_start: u32, k4: u32) -> vec4<f32> {
    let k = vec4<u32>(4u * k4) + vec4<u32>(0u, 1u, 2u, 3u);
    let e = vec4<u32>(row_start) + min(k, vec4<u32>(p.k - 1u));
    let v = vec4<f32>(x[e.x / 4u][e.x % 4u], x[e.y / 4u][e.y % 4u], x[e.z / 4u][e.z % 4u], x[e.w / 4u][e.w % 4u]);
    return select(vec4<f32>(0.0), v, k < vec4<u32>(p.k));
}

// One row's four column groups after four more k: group g gains xr · b_g.
fn tile_step(b0: mat4x4<f32>, b1: mat4x4<f32>, b2: mat4x4<f32>, b3: mat4x4<f32>, xr: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(xr * b0, xr * b1, xr * b2, xr * b3);
}

fn store_row(row: u32, col: u32, acc: mat4x4<f32>) {
    if (row < p.m) {
        store4(row, col, acc[0]);
        store4(row, col + 4u, acc[1]);
        store4(row, col + 8u, acc[2]);
        store4(row, col + 12u, acc[3]);
    }
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(workgroup_id) group: vec3<u32>) {
    let n4 = (p.n + 3u) / 4u;
    let c4 = id.x * 4u;
    let row0 = group.y * 8u;
    if (c4 >= n4) {
        return;
    }
    let c = min(vec4<u32>(c4) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(n4 - 1u));
    let last = p.m - 1u;
    let k4s = (p.k + 3u) / 4u;
    var a0 = mat4x4<f32>();
    var a1 = mat4x4<f32>();
    var a2 = mat4x4<f32>();
    var a3 = mat4x4<f32>();
    var a4 = mat4x4<f32>();
    var a5 = mat4x4<f32>();
    var a6 = mat4x4<f32>();
    var a7 = mat4x4<f32>();
    if (p.k % 4u == 0u) {
        // Rows are whole vec4s: one load of X per row and four k.
        let x0 = min(row0, last) * k4s;
        let x1 = min(row0 + 1u, last) * k4s;
        let x2 = min(row0 + 2u, last) * k4s;
        let x3 = min(row0 + 3u, last) * k4s;
        let x4 = min(row0 + 4u, last) * k4s;
        let x5 = min(row0 + 5u, last) * k4s;
        let x6 = min(row0 + 6u, last) * k4s;
        let x7 = min(row0 + 7u, last) * k4s;
        for (var k4 = 0u; k4 < k4s; k4 = k4 + 1u) {
            let b0 = weight_block(k4, c.x, p.n, p.k);
            let b1 = weight_block(k4, c.y, p.n, p.k);
            let b2 = weight_block(k4, c.z, p.n, p.k);
            let b3 = weight_block(k4, c.w, p.n, p.k);
            a0 += tile_step(b0, b1, b2, b3, x[x0 + k4]);
            a1 += tile_step(b0, b1, b2, b3, x[x1 + k4]);
            a2 += tile_step(b0, b1, b2, b3, x[x2 + k4]);
            a3 += tile_step(b0, b1, b2, b3, x[x3 + k4]);
            a4 += tile_step(b0, b1, b2, b3, x[x4 + k4]);
            a5 += tile_step(b0, b1, b2, b3, x[x5 + k4]);
            a6 += tile_step(b0, b1, b2, b3, x[x6 + k4]);
            a7 += tile_step(b0, b1, b2, b3, x[x7 + k4]);
        }
    } else {
        // Any k (the kernel tests' odd shapes; no CLIP has one): X gathered with zeros past k.
        let x0 = min(row0, last) * p.k;
        let x1 = min(row0 + 1u, last) * p.k;
        let x2 = min(row0 + 2u, last) * p.k;
        let x3 = min(row0 + 3u, last) * p.k;
        let x4 = min(row0 + 4u, last) * p.k;
        let x5 = min(row0 + 5u, last) * p.k;
        let x6 = min(row0 + 6u, last) * p.k;
        let x7 = min(row0 + 7u, last) * p.k;
        for (var k4 = 0u; k4 < k4s; k4 = k4 + 1u) {
            let b0 = weight_block(k4, c.x, p.n, p.k);
            let b1 = weight_block(k4, c.y, p.n, p.k);
            let b2 = weight_block(k4, c.z, p.n, p.k);
            let b3 = weight_block(k4, c.w, p.n, p.k);
            a0 += tile_step(b0, b1, b2, b3, x_unit(x0, k4));
            a1 += tile_step(b0, b1, b2, b3, x_unit(x1, k4));
            a2 += tile_step(b0, b1, b2, b3, x_unit(x2, k4));
            a3 += tile_step(b0, b1, b2, b3, x_unit(x3, k4));
            a4 += tile_step(b0, b1, b2, b3, x_unit(x4, k4));
            a5 += tile_step(b0, b1, b2, b3, x_unit(x5, k4));
            a6 += tile_step(b0, b1, b2, b3, x_unit(x6, k4));
            a7 += tile_step(b0, b1, b2, b3, x_unit(x7, k4));
        }
    }
    let col = c4 * 4u;
    store_row(row0, col, a0);
    store_row(row0 + 1u, col, a1);
    store_row(row0 + 2u, col, a2);
    store_row(row0 + 3u, col, a3);
    store_row(row0 + 4u, col, a4);
    store_row(row0 + 5u, col, a5);
    store_row(row0 + 6u, col, a6);
    store_row(row0 + 7u, col, a7);
}
