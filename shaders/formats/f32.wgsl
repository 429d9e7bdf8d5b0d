// formats/f32.wgsl — weights as f32, the reference format. Layout: src/ops/format.rs.
//
// Every weight format defines the same three things, and a kernel that reads a weight includes
// exactly one of them (`WeightFormat::wgsl`) and declares the buffer itself:
//   alias WeightWord                    the element type of that buffer, `w`
//   weight_unit(k4, col, n, k)          W[col, 4k4 .. 4k4 + 3] of a [n, k] weight, as f32
//   weight_block(k4, c4, n, k)          the units of columns 4c4 .. 4c4 + 3: matrix column j is
//                                       column 4c4 + j's unit, so x · block adds 4 k of x
//                                       into 4 outputs
// Callers stay inside the padded matrix (k4 < ceil(k / 4), columns < n rounded up to 4):
// padding holds zeros, so no bounds are checked here.

alias WeightWord = vec4<f32>;

fn weight_unit(k4: u32, col: u32, n: u32, k: u32) -> vec4<f32> {
    return w[k4 * ((n + 3u) & ~3u) + col];
}

fn weight_block(k4: u32, c4: u32, n: u32, k: u32) -> mat4x4<f32> {
    let i = k4 * ((n + 3u) & ~3u) + 4u * c4;
    return mat4x4<f32>(w[i], w[i + 1u], w[i + 2u], w[i + 3u]);
}
