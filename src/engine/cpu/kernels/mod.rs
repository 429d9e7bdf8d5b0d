//! The CPU engine's compute kernels, pure functions over slices: weight panels
//! ([`panels`]), the fused matmul ([`matmul`]), LayerNorm ([`norm`]),
//! multi-head attention ([`attention`]), image patches as rows ([`im2col`]) and the
//! f32 activations ([`activation`]).
//! Each file states its layout and blocking and carries its reference and tests.

pub mod activation;
pub mod attention;
pub mod im2col;
pub mod matmul;
pub mod norm;
pub mod panels;

#[cfg(test)]
mod bench;
