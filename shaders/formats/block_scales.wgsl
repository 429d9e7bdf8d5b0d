// formats/block_scales.wgsl — the f16 scales of the quantized formats (q8.wgsl, q4.wgsl): one
// per 32 k of one column, [ceil(k / 32), np] two per word, stored after `data_words` words of
// data in the same buffer.

alias WeightWord = u32;

// Scales of columns col and col + 1 (col even) in block kb.
fn scale_pair(data_words: u32, kb: u32, col: u32, np: u32) -> vec2<f32> {
    return unpack2x16float(w[data_words + (kb * np + col) / 2u]);
}

fn scale_of(data_words: u32, kb: u32, col: u32, np: u32) -> f32 {
    return scale_pair(data_words, kb, col & ~1u, np)[col & 1u];
}
