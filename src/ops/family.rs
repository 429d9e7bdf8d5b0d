//! Which kernel family runs on a device, and with which tile constants.
//!
//! - [`KernelFamily::Tiled`]: for real GPUs. Workgroup-memory tiles, coalesced
//!   `vec4` loads, tree reductions across a workgroup.
//! - [`KernelFamily::Registers`]: for CPU-backed adapters (lavapipe,
//!   SwiftShader; wgpu reports `DeviceType::Cpu`). They run invocations side by
//!   side in SIMD lanes, so a barrier is a thread switch and workgroup memory an
//!   extra copy: each invocation keeps its tile in named registers, reads
//!   storage directly and never synchronises.
//!
//! The adapter's type picks the family; `--kernels` (CLI), `kernels` (JS load
//! option) or `WEBCLIP_KERNELS` (native environment, for tests) force one.

use crate::error::{Error, Result};
use crate::gpu::Gpu;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelFamily {
    Tiled,
    Registers,
}

/// Workgroup sizes of the `Registers` family, from measurements on the two
/// software adapters this project can run (`webclip bench-kernels`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegisterTiles {
    /// Invocations per matmul workgroup (each owns 16 columns of 8 rows).
    pub matmul: u32,
    /// Queries per attention workgroup.
    pub attention: u32,
    /// Rows per LayerNorm workgroup.
    pub layernorm: u32,
}

impl KernelFamily {
    pub const ALL: [KernelFamily; 2] = [KernelFamily::Tiled, KernelFamily::Registers];

    pub fn name(self) -> &'static str {
        match self {
            KernelFamily::Tiled => "tiled",
            KernelFamily::Registers => "registers",
        }
    }

    pub fn parse(name: &str) -> Result<KernelFamily> {
        Self::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| Error::Input(format!("unknown kernel family {name:?} (expected \"tiled\" or \"registers\")")))
    }

    /// The family for `gpu`: `forced` if given, else `WEBCLIP_KERNELS` (native
    /// only), else by the adapter's device type.
    pub fn choose(gpu: &Gpu, forced: Option<KernelFamily>) -> Result<KernelFamily> {
        if let Some(family) = forced {
            return Ok(family);
        }
        #[cfg(not(target_arch = "wasm32"))]
        if let Ok(name) = std::env::var("WEBCLIP_KERNELS") {
            return Self::parse(&name).map_err(|e| Error::Input(format!("WEBCLIP_KERNELS: {e}")));
        }
        Ok(Self::for_adapter(&gpu.adapter))
    }

    pub fn for_adapter(adapter: &wgpu::AdapterInfo) -> KernelFamily {
        match adapter.device_type {
            wgpu::DeviceType::Cpu => KernelFamily::Registers,
            _ => KernelFamily::Tiled,
        }
    }
}

impl RegisterTiles {
    /// Measured on the two software adapters this project has, both on 2 cores
    /// (`webclip bench-kernels`, `www/bench.html`): on lavapipe (Vulkan) 64
    /// invocations per matmul workgroup and 16 gave the same GFLOP/s; on
    /// SwiftShader (the browser) 16 beat 32 and 64 by 5-10% (more workgroups to
    /// share between its threads when n is 768). wgpu tells neither adapter's
    /// name in a browser, so any CPU adapter there gets SwiftShader's sizes.
    pub fn for_this_target() -> RegisterTiles {
        let matmul = if cfg!(target_arch = "wasm32") { 16 } else { 64 };
        RegisterTiles { matmul, attention: 16, layernorm: 8 }
    }
}
