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
// Included before this file: one weight format (`weight_block`) and one row loader
// (`Invocation`, `x_rows`): common/rows_uniform.wgsl, or common/rows_subgroup.wgsl where the
// device has subgroups (src/ops/matmul.rs, `RowLoader`).
//
// Dispatch: (ceil(n / (16 · WG)), ceil(m / ROWS), 1) workgroups of WG invocations. Workgroup
// (gx, gy) owns rows ROWS · gy .. + ROWS - 1; its invocation i owns columns 16(gx · WG + i) .. + 15,
// kept in ROWS mat4x4 accumulators (one per row, four vec4 column groups each). Per four k it
// takes one 4 × 4 weight block per column group (`weight_block`: dequantized in registers) and
// X's rows four at a time (`x_rows`). Loads past the last row or column are clamped to it (valid
// addresses, results never stored): the k loop has no branches on the data. No workgroup
// memory, no barriers; every invocation runs the loop to the end (the subgroup loader needs all
// lanes), and only the store is skipped past the last column.
//
// Why this shape: a software adapter runs the invocations of a workgroup side by side in SIMD
// lanes and pays for every load lane by lane, while a barrier is a thread switch and workgroup
// memory one more copy. So each invocation keeps its whole ROWS × 16 tile in named values (an
// indexed private array would live in memory), and per four k loads 4 weight blocks (f32: 16
// vec4) for ROWS · 64 FMAs.
// - lavapipe (8 rows, uniform loader) sees that X's row addresses are the same in every lane and
//   loads them once for all lanes; it measured (ViT-B/32's shapes, `webclip bench-kernels`)
//   8 × 16 per invocation at 20-29 GFLOP/s; 4 × 16 18-21, 16 × 16 19-31, 32 × 16 12-17, lanes
//   over rows with W uniform instead 3-7, the workgroup-tiled kernel 3.4-3.8. Computing the rows'
//   starts once before the loop, rather than in it, gained 20-25%.
// - SwiftShader (28 rows, subgroup loader; see `RegisterTiles`) pays for each lane's load, one
//   scalar at a time (on 50x3072x768, 55% of the time went to loads), so the more rows share
//   each weight load the better, and X's rows are loaded once per four lanes and broadcast. Measured on
//   50x3072x768 and 50x768x3072 (a standalone harness, 2 cores): 8 rows, X per lane (the
//   previous kernel) 4.4-5.9 GFLOP/s; 8 rows broadcast 5.2-6.0; 16 rows 5.7-6.3 per lane,
//   6.5-7.3 broadcast; 32 rows broadcast 8.7-9.2; 64 rows × 8 columns 7.4-7.7; W read from an
//   rgba32float texture instead: no change.

struct Params { m: u32, n: u32, k: u32, flags: u32 }

// Invocations per workgroup, along N, and rows per invocation: a multiple of 4 from 8 to 32
// (the registry, `RegisterTiles`, sets both per adapter, so neither has a default here: a
// pipeline that forgot one fails to compile). Rows past ROWS are dead code once the pipeline
// fixes ROWS, and compilers drop them with their accumulators.
override WG: u32;
override ROWS: u32;

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<WeightWord>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

// Where X's row `row` starts (clamped to the last row): in vec4s when k is a multiple of 4,
// else in floats.
fn x_row_start(row: u32) -> u32 {
    let r = min(row, p.m - 1u);
    return select(r * p.k, r * (p.k / 4u), p.k % 4u == 0u);
}

// X[row, 4k4 .. 4k4 + 3] of the row starting at `start`; zeros past k. `whole` (k is a multiple
// of 4) is a literal at every call, so compilers drop the other branch. Any k is for the kernel
// tests' odd shapes; no CLIP has one.
fn x_unit(start: u32, k4: u32, whole: bool) -> vec4<f32> {
    if (whole) {
        return x[start + k4];
    }
    let k = vec4<u32>(4u * k4) + vec4<u32>(0u, 1u, 2u, 3u);
    let e = vec4<u32>(start) + min(k, vec4<u32>(p.k - 1u));
    let v = vec4<f32>(x[e.x / 4u][e.x % 4u], x[e.y / 4u][e.y % 4u], x[e.z / 4u][e.z % 4u], x[e.w / 4u][e.w % 4u]);
    return select(vec4<f32>(0.0), v, k < vec4<u32>(p.k));
}

// One row's four column groups after four more k: group g gains xr · b_g.
fn tile_step(b0: mat4x4<f32>, b1: mat4x4<f32>, b2: mat4x4<f32>, b3: mat4x4<f32>, xr: vec4<f32>) -> mat4x4<f32> {
    return mat4x4<f32>(xr * b0, xr * b1, xr * b2, xr * b3);
}

// Four rows' accumulators after four more k: row j gains X's row j (`xq[j]`) · the blocks.
fn add_rows(a0: ptr<function, mat4x4<f32>>, a1: ptr<function, mat4x4<f32>>, a2: ptr<function, mat4x4<f32>>, a3: ptr<function, mat4x4<f32>>,
            b0: mat4x4<f32>, b1: mat4x4<f32>, b2: mat4x4<f32>, b3: mat4x4<f32>, xq: mat4x4<f32>) {
    *a0 += tile_step(b0, b1, b2, b3, xq[0]);
    *a1 += tile_step(b0, b1, b2, b3, xq[1]);
    *a2 += tile_step(b0, b1, b2, b3, xq[2]);
    *a3 += tile_step(b0, b1, b2, b3, xq[3]);
}

fn store_row(row: u32, col: u32, acc: mat4x4<f32>, live: bool) {
    if (live && row < p.m) {
        store4(row, col, acc[0]);
        store4(row, col + 4u, acc[1]);
        store4(row, col + 8u, acc[2]);
        store4(row, col + 12u, acc[3]);
    }
}

@compute @workgroup_size(WG, 1, 1)
fn main(ids: Invocation) {
    let n4 = (p.n + 3u) / 4u;
    let c4 = ids.global.x * 4u;
    let row0 = ids.group.y * ROWS;
    let live = c4 < n4;
    let lane = row_lane(ids);
    let c = min(vec4<u32>(c4) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(n4 - 1u));
    let k4s = (p.k + 3u) / 4u;
    var a0 = mat4x4<f32>(); var a1 = mat4x4<f32>(); var a2 = mat4x4<f32>(); var a3 = mat4x4<f32>();
    var a4 = mat4x4<f32>(); var a5 = mat4x4<f32>(); var a6 = mat4x4<f32>(); var a7 = mat4x4<f32>();
    var a8 = mat4x4<f32>(); var a9 = mat4x4<f32>(); var a10 = mat4x4<f32>(); var a11 = mat4x4<f32>();
    var a12 = mat4x4<f32>(); var a13 = mat4x4<f32>(); var a14 = mat4x4<f32>(); var a15 = mat4x4<f32>();
    var a16 = mat4x4<f32>(); var a17 = mat4x4<f32>(); var a18 = mat4x4<f32>(); var a19 = mat4x4<f32>();
    var a20 = mat4x4<f32>(); var a21 = mat4x4<f32>(); var a22 = mat4x4<f32>(); var a23 = mat4x4<f32>();
    var a24 = mat4x4<f32>(); var a25 = mat4x4<f32>(); var a26 = mat4x4<f32>(); var a27 = mat4x4<f32>();
    var a28 = mat4x4<f32>(); var a29 = mat4x4<f32>(); var a30 = mat4x4<f32>(); var a31 = mat4x4<f32>();
    // Where each four rows' X starts: loop-invariant, so computed once (lavapipe measured
    // 20-25% faster than recomputing them in the loop).
    let r0 = row_starts(row0 + 0u, lane); let r1 = row_starts(row0 + 4u, lane);
    let r2 = row_starts(row0 + 8u, lane); let r3 = row_starts(row0 + 12u, lane);
    let r4 = row_starts(row0 + 16u, lane); let r5 = row_starts(row0 + 20u, lane);
    let r6 = row_starts(row0 + 24u, lane); let r7 = row_starts(row0 + 28u, lane);
    // Two copies of the k loop, so that neither branches on k's shape inside.
    if (p.k % 4u == 0u) {
        for (var k4 = 0u; k4 < k4s; k4 = k4 + 1u) {
            let b0 = weight_block(k4, c.x, p.n, p.k);
            let b1 = weight_block(k4, c.y, p.n, p.k);
            let b2 = weight_block(k4, c.z, p.n, p.k);
            let b3 = weight_block(k4, c.w, p.n, p.k);
            add_rows(&a0, &a1, &a2, &a3, b0, b1, b2, b3, x_rows(r0, k4, true));
            add_rows(&a4, &a5, &a6, &a7, b0, b1, b2, b3, x_rows(r1, k4, true));
            if (ROWS > 8u) { add_rows(&a8, &a9, &a10, &a11, b0, b1, b2, b3, x_rows(r2, k4, true)); }
            if (ROWS > 12u) { add_rows(&a12, &a13, &a14, &a15, b0, b1, b2, b3, x_rows(r3, k4, true)); }
            if (ROWS > 16u) { add_rows(&a16, &a17, &a18, &a19, b0, b1, b2, b3, x_rows(r4, k4, true)); }
            if (ROWS > 20u) { add_rows(&a20, &a21, &a22, &a23, b0, b1, b2, b3, x_rows(r5, k4, true)); }
            if (ROWS > 24u) { add_rows(&a24, &a25, &a26, &a27, b0, b1, b2, b3, x_rows(r6, k4, true)); }
            if (ROWS > 28u) { add_rows(&a28, &a29, &a30, &a31, b0, b1, b2, b3, x_rows(r7, k4, true)); }
        }
    } else {
        for (var k4 = 0u; k4 < k4s; k4 = k4 + 1u) {
            let b0 = weight_block(k4, c.x, p.n, p.k);
            let b1 = weight_block(k4, c.y, p.n, p.k);
            let b2 = weight_block(k4, c.z, p.n, p.k);
            let b3 = weight_block(k4, c.w, p.n, p.k);
            add_rows(&a0, &a1, &a2, &a3, b0, b1, b2, b3, x_rows(r0, k4, false));
            add_rows(&a4, &a5, &a6, &a7, b0, b1, b2, b3, x_rows(r1, k4, false));
            if (ROWS > 8u) { add_rows(&a8, &a9, &a10, &a11, b0, b1, b2, b3, x_rows(r2, k4, false)); }
            if (ROWS > 12u) { add_rows(&a12, &a13, &a14, &a15, b0, b1, b2, b3, x_rows(r3, k4, false)); }
            if (ROWS > 16u) { add_rows(&a16, &a17, &a18, &a19, b0, b1, b2, b3, x_rows(r4, k4, false)); }
            if (ROWS > 20u) { add_rows(&a20, &a21, &a22, &a23, b0, b1, b2, b3, x_rows(r5, k4, false)); }
            if (ROWS > 24u) { add_rows(&a24, &a25, &a26, &a27, b0, b1, b2, b3, x_rows(r6, k4, false)); }
            if (ROWS > 28u) { add_rows(&a28, &a29, &a30, &a31, b0, b1, b2, b3, x_rows(r7, k4, false)); }
        }
    }
    // One store loop, not 32 unrolled stores: each store inlines the epilogue, and 32 copies
    // of it cost SwiftShader seconds of compilation (the k loop is where the time goes).
    var acc = array<mat4x4<f32>, 32>(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15,
        a16, a17, a18, a19, a20, a21, a22, a23, a24, a25, a26, a27, a28, a29, a30, a31);
    let col = c4 * 4u;
    for (var r = 0u; r < ROWS; r = r + 1u) {
        store_row(row0 + r, col, acc[r], live);
    }
}
