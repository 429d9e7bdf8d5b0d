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
//! The adapter's type picks the family; `--family` (CLI), `kernels` (JS load
//! option) or `WEBCLIP_KERNELS` (native environment, for tests) force one.

use crate::error::{Error, Result};
use crate::gpu::Gpu;

use super::RowLoader;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelFamily {
    Tiled,
    Registers,
}

/// Workgroup sizes of the `Registers` family, from measurements on the two
/// software adapters this project can run (`webclip bench-kernels`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegisterTiles {
    /// Invocations per matmul workgroup (each owns 16 columns of `matmul_rows` rows).
    pub matmul: u32,
    /// Rows per matmul invocation (`ROWS` in matmul_registers.wgsl: a multiple of 4, 8 to 32).
    pub matmul_rows: u32,
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
        Self::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
            Error::Input(format!(
                "unknown kernel family {name:?} (expected \"tiled\" or \"registers\")"
            ))
        })
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
    /// (`webclip bench-kernels`, `www/bench.html`): 16 invocations per matmul
    /// workgroup. On SwiftShader 16 beat 32 and 64 by 5-10% (more workgroups to
    /// share between its threads when n is 768); on lavapipe 64 and 16 tied while
    /// idle lanes returned early, and since every lane now runs the k loop (the
    /// subgroup loader needs them all) 64 lost 30-40%: CLIP's widths are
    /// multiples of 256 = 16 × 16 columns, so 16 leaves no idle lane.
    ///
    /// Rows per matmul invocation follow the row loader: lavapipe loads X's
    /// uniform rows once for all lanes and is fastest at 8 rows (20-29 GFLOP/s
    /// on ViT-B/32's shapes; 32 rows: 12-17); SwiftShader pays for every lane's
    /// load, so with subgroups it shares X's loads and amortises each weight
    /// load over many rows (32 rows: 8.7-9.2 GFLOP/s in a standalone harness
    /// against 4.4-5.9 at 8). 28 rather than 32: a ViT-B/32 image's 50 tokens
    /// fill two tiles of 28 (56 rows) but pad to 64 with 32; in
    /// `www/bench.html` 28 was 14-15% faster on those shapes and the same on a
    /// batch of 8 (400 rows).
    pub fn for_loader(rows: RowLoader) -> RegisterTiles {
        let matmul = 16;
        let matmul_rows = match rows {
            RowLoader::Uniform => 8,
            RowLoader::Subgroup => 28,
        };
        RegisterTiles { matmul, matmul_rows, attention: 16, layernorm: 8 }
    }
}
