// formats/q4.wgsl — 4-bit weights, eight k of one column per word (low nibble first, stored
// q + 8), times their block's f16 scale. Interface: formats/f32.wgsl; scales:
// formats/block_scales.wgsl. Data: [ceil(k / 32) · 4, np] words, so the scales start at
// ceil(k / 32) · 4 · np; unit k4 is the low (k4 even) or high half of word k4 / 2.

fn q4_unpack(word: u32, k4: u32) -> vec4<f32> {
    let bits16 = word >> (16u * (k4 & 1u));
    return vec4<f32>(vec4<i32>((vec4<u32>(bits16) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u)) - vec4<i32>(8));
}

fn weight_unit(k4: u32, col: u32, n: u32, k: u32) -> vec4<f32> {
    let np = (n + 3u) & ~3u;
    let data_words = (k + 31u) / 32u * 4u * np;
    return q4_unpack(w[k4 / 2u * np + col], k4) * scale_of(data_words, k4 / 8u, col, np);
}

fn weight_block(k4: u32, c4: u32, n: u32, k: u32) -> mat4x4<f32> {
    let np = (n + 3u) & ~3u;
    let data_words = (k + 31u) / 32u * 4u * np;
    let i = k4 / 2u * np + 4u * c4;
    let s01 = scale_pair(data_words, k4 / 8u, 4u * c4, np);
    let s23 = scale_pair(data_words, k4 / 8u, 4u * c4 + 2u, np);
    return mat4x4<f32>(q4_unpack(w[i], k4) * s01.x, q4_unpack(w[i + 1u], k4) * s01.y, q4_unpack(w[i + 2u], k4) * s23.x, q4_unpack(w[i + 3u], k4) * s23.y);
}
