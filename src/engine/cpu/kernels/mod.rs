//! The CPU engine's compute kernels, pure functions over slices: weight panels
//! ([`panels`]), the fused matmul ([`matmul`]), LayerNorm ([`norm`]),
//! multi-head attention ([`attention`]) and the f32 activations ([`activation`]).
//! Each file states its layout and blocking and carries its reference and tests.

pub mod activation;
pub mod attention;
pub mod matmul;
pub mod norm;
pub mod panels;

#[cfg(test)]
mod bench;
