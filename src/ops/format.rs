//! Weight formats: how a matrix (every linear layer, the patch embedding, the
//! projections and the token table) lives in GPU memory. The one Rust type
//! here packs, slices and dequantizes each format; the one WGSL include per
//! format (`shaders/formats/<name>.wgsl`) unpacks it in registers. Model code
//! never looks inside.
//!
//! Layout (documented for other readers in `docs/weights-format.md`): a Hugging
//! Face weight `[n, k]` (n outputs, k inputs) is stored K-major in *units* of
//! consecutive k of one output column, so the matmul kernels, which walk k for
//! a row of output columns, read one contiguous row of units per step:
//!
//! | format | unit | data | scales |
//! |---|---|---|---|
//! | `f32` | 4 k of one column: 4 × f32 | `[kp/4, np]` units | none |
//! | `f16` | 4 k: 4 × f16 (two `u32`) | `[kp/4, np]` units | none |
//! | `q8` | 4 k: 4 × i8 (one `u32`, k ascending from the low byte) | `[kp/4, np]` words | f16 `[kp/32, np]` |
//! | `q4` | 8 k: 8 × 4 bits (one `u32`, k ascending from the low nibble, stored q + 8) | `[kp/8, np]` words | f16 `[kp/32, np]` |
//!
//! `np` is n rounded up to 4, `kp` is k rounded up to the format's block (4, or
//! 32 for the quantized ones); padding is zeros. Quantized weights are
//! `q · scale` with one scale per 32 k of one column: q8 symmetric in
//! [-127, 127] with scale = max|w| / 127; q4 as ggml's q4_0, q in [-8, 7],
//! with the scale (near w_max / -8, w_max the block's value of largest
//! magnitude) that minimises the block's squared error. On the GPU the scales
//! follow the data in the same buffer.
//!
//! The parts, in `format/`: `layout.rs`, the formats and where each puts a weight's
//! numbers; `packed.rs`, [`PackedWeight`] (packing, slicing, dequantizing, upload);
//! `quantize.rs`, the q8 and q4 block quantizers.

mod layout;
mod packed;
mod quantize;

pub use layout::{Layout, WeightFormat, QUANT_BLOCK};
pub use packed::PackedWeight;
