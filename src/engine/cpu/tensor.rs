//! The CPU engine's tensors: floats (or `u32` ids, bit for bit) in a vector
//! behind a lock, or a matrix packed once into the matmul's panels.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::kernels::panels::Panels;

/// A tensor of the CPU engine. Cheap to clone: ops hold the tensors they read
/// and write, as GPU bind groups hold buffers.
#[derive(Clone)]
pub struct CpuTensor(pub(super) Arc<Store>);

pub(super) enum Store {
    /// Activations, inputs, biases and LayerNorm parameters: 32-bit values.
    Values(RwLock<Vec<f32>>),
    /// A linear layer's weight, in the panels the matmul reads.
    Matrix(Panels),
}

impl CpuTensor {
    pub(super) fn values(values: Vec<f32>) -> CpuTensor {
        CpuTensor(Arc::new(Store::Values(RwLock::new(values))))
    }

    pub(super) fn matrix(panels: Panels) -> CpuTensor {
        CpuTensor(Arc::new(Store::Matrix(panels)))
    }

    /// The values, to read. Ops never read the tensor they write (the encoder's
    /// residual stream ping-pongs between two), so a lock held elsewhere is
    /// webclip's own bug.
    pub(super) fn read(&self) -> RwLockReadGuard<'_, Vec<f32>> {
        match &*self.0 {
            Store::Values(v) => v.try_read().expect("a CPU tensor read while it is written"),
            Store::Matrix(_) => panic!("a weight matrix read as values"),
        }
    }

    /// The values, to write.
    pub(super) fn write(&self) -> RwLockWriteGuard<'_, Vec<f32>> {
        match &*self.0 {
            Store::Values(v) => v.try_write().expect("a CPU tensor written while it is read"),
            Store::Matrix(_) => panic!("a weight matrix written as values"),
        }
    }

    pub(super) fn panels(&self) -> &Panels {
        match &*self.0 {
            Store::Matrix(p) => p,
            Store::Values(_) => panic!("values used as a weight matrix"),
        }
    }
}
