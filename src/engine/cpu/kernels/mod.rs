//! The CPU engine's compute kernels, pure functions over slices: weight panels
//! ([`panels`]), the fused matmul ([`matmul`]), LayerNorm ([`norm`]),
//! multi-head attention ([`attention`]), image patches as rows ([`im2col`]) and the
//! f32 activations ([`activation`]).
//! Each file states its layout and blocking and carries its reference and tests.

/// `println!` natively, the browser console on wasm32 (where tests print nothing else).
#[cfg(test)]
macro_rules! report {
    ($($t:tt)*) => {{
        #[cfg(target_arch = "wasm32")]
        wasm_bindgen_test::console_log!($($t)*);
        #[cfg(not(target_arch = "wasm32"))]
        println!($($t)*);
    }};
}

pub mod activation;
pub mod attention;
pub mod im2col;
pub mod matmul;
pub mod norm;
pub mod panels;

pub mod bench;
