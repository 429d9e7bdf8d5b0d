// formats/q8.wgsl — int8 weights, four k of one column per word (low byte first), times their
// block's f16 scale. Interface: formats/f32.wgsl; scales: formats/block_scales.wgsl.
// Data: [ceil(k / 32) · 8, np] words, so the scales start at ceil(k / 32) · 8 · np.

fn q8_unpack(u: u32) -> vec4<f32> {
    // Each byte to the top, then an arithmetic shift back: sign-extended, exact.
    return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(u) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

fn weight_unit(k4: u32, col: u32, n: u32, k: u32) -> vec4<f32> {
    let np = (n + 3u) & ~3u;
    let data_words = (k + 31u) / 32u * 8u * np;
    return q8_unpack(w[k4 * np + col]) * scale_of(data_words, k4 / 8u, col, np);
}

fn weight_block(k4: u32, c4: u32, n: u32, k: u32) -> mat4x4<f32> {
    let np = (n + 3u) & ~3u;
    let data_words = (k + 31u) / 32u * 8u * np;
    let i = k4 * np + 4u * c4;
    let s01 = scale_pair(data_words, k4 / 8u, 4u * c4, np);
    let s23 = scale_pair(data_words, k4 / 8u, 4u * c4 + 2u, np);
    return mat4x4<f32>(q8_unpack(w[i]) * s01.x, q8_unpack(w[i + 1u]) * s01.y, q8_unpack(w[i + 2u]) * s23.x, q8_unpack(w[i + 3u]) * s23.y);
}
