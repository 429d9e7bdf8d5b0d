// formats/f16.wgsl — weights as f16, four k of one column in two words, widened to f32 in
// registers with unpack2x16float (core WGSL: no `shader-f16` needed). Interface: formats/f32.wgsl.

alias WeightWord = vec2<u32>;

fn unpack_f16x4(u: vec2<u32>) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(u.x), unpack2x16float(u.y));
}

fn weight_unit(k4: u32, col: u32, n: u32, k: u32) -> vec4<f32> {
    return unpack_f16x4(w[k4 * ((n + 3u) & ~3u) + col]);
}

fn weight_block(k4: u32, c4: u32, n: u32, k: u32) -> mat4x4<f32> {
    let i = k4 * ((n + 3u) & ~3u) + 4u * c4;
    return mat4x4<f32>(unpack_f16x4(w[i]), unpack_f16x4(w[i + 1u]), unpack_f16x4(w[i + 2u]), unpack_f16x4(w[i + 3u]));
}
