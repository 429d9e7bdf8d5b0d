//! The CPU engine (issue 17): the same forward pass as the GPU's, on the CPU's
//! cores and SIMD units. `kernels` holds its compute kernels as pure functions
//! over slices; the `Engine` implementation on top of them lives beside it.

pub mod kernels;
