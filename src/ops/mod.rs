//! The kernels. One module per `shaders/<op>.wgsl`: its shape uniform, how it
//! is bound and dispatched, a CPU reference in f64, and tests on odd shapes.

pub mod attention;
pub mod bench;
pub mod embeddings;
mod family;
pub mod format;
pub mod layernorm;
pub mod matmul;
pub mod pooling;

pub use family::{KernelFamily, RegisterTiles};
pub use format::{PackedWeight, WeightFormat};
pub use matmul::{Activation, EpilogueFlags, RowLoader};

use crate::error::Result;
use crate::gpu::{Gpu, Kernel, LINEAR_WORKGROUP};

/// Shader sources, with the shared helpers prepended where a kernel uses them.
macro_rules! shader {
    ($name:literal) => {
        include_str!(concat!("../../shaders/", $name, ".wgsl"))
    };
    ($name:literal, $($common:literal),+) => {
        concat!($(include_str!(concat!("../../shaders/common/", $common, ".wgsl")),)+ include_str!(concat!("../../shaders/", $name, ".wgsl")))
    };
}

/// A kernel that reads weights, with the include of `format` prepended.
fn with_format(format: WeightFormat, kernel: &str) -> String {
    [format.wgsl(), kernel].concat()
}

/// Every compiled pipeline a CLIP forward pass uses, built once per device, of
/// one family, reading weights in one format.
#[derive(Clone)]
pub struct Kernels {
    pub family: KernelFamily,
    pub format: WeightFormat,
    /// How the registers matmul loads X (the tiled family ignores it).
    pub rows: RowLoader,
    pub matmul: Kernel,
    /// The matmul over q8 weights, for q4 models: they keep a few matrices in q8
    /// (`model::precision`). `None` for every other format.
    pub q8_matmul: Option<Kernel>,
    pub layernorm: Kernel,
    pub attention: Kernel,
    pub im2col: Kernel,
    pub vision_embeddings: Kernel,
    pub text_embeddings: Kernel,
    pub gather_rows: Kernel,
}

impl Kernels {
    /// Compiles the kernels of `family` (see [`KernelFamily::choose`]) for weights in `format`.
    pub async fn new(gpu: &Gpu, family: KernelFamily, format: WeightFormat) -> Result<Kernels> {
        Self::with_rows(gpu, family, format, RowLoader::for_device(gpu)).await
    }

    /// [`Kernels::new`] with the registers matmul's row loader forced (tests).
    pub async fn with_rows(
        gpu: &Gpu,
        family: KernelFamily,
        format: WeightFormat,
        rows: RowLoader,
    ) -> Result<Kernels> {
        let elementwise = [LINEAR_WORKGROUP, 1, 1];
        let matmul = matmul_kernel(gpu, family, format, rows).await?;
        let q8_matmul = match format {
            WeightFormat::Q4 => Some(matmul_kernel(gpu, family, WeightFormat::Q8, rows).await?),
            _ => None,
        };
        let (layernorm, attention) = match family {
            KernelFamily::Tiled => (
                Kernel::new(
                    gpu,
                    "layernorm_tiled",
                    shader!("layernorm_tiled", "workgroup_reduce"),
                    &[],
                    [1, 1, 1],
                )
                .await?,
                Kernel::new(
                    gpu,
                    "attention_tiled",
                    shader!("attention_tiled", "workgroup_reduce"),
                    &[],
                    [1, 1, 1],
                )
                .await?,
            ),
            KernelFamily::Registers => {
                let t = RegisterTiles::for_loader(rows);
                (
                    Kernel::new(
                        gpu,
                        "layernorm_registers",
                        shader!("layernorm_registers"),
                        &[("WG", t.layernorm as f64)],
                        [t.layernorm, 1, 1],
                    )
                    .await?,
                    Kernel::new(
                        gpu,
                        "attention_registers",
                        shader!("attention_registers"),
                        &[("WG", t.attention as f64)],
                        [t.attention, 1, 1],
                    )
                    .await?,
                )
            }
        };
        Ok(Kernels {
            family,
            format,
            rows,
            matmul,
            q8_matmul,
            layernorm,
            attention,
            im2col: Kernel::new(gpu, "im2col", shader!("im2col"), &[], elementwise).await?,
            vision_embeddings: Kernel::new(
                gpu,
                "vision_embeddings",
                shader!("vision_embeddings"),
                &[],
                elementwise,
            )
            .await?,
            text_embeddings: Kernel::new(
                gpu,
                "text_embeddings",
                &with_format(format, shader!("text_embeddings")),
                &[],
                elementwise,
            )
            .await?,
            gather_rows: Kernel::new(gpu, "gather_rows", shader!("gather_rows"), &[], elementwise)
                .await?,
        })
    }
}

/// The matmul of `family` over weights in `format`.
async fn matmul_kernel(
    gpu: &Gpu,
    family: KernelFamily,
    format: WeightFormat,
    rows: RowLoader,
) -> Result<Kernel> {
    match family {
        // A tiled matmul workgroup owns a 32 × 32 block (matmul_tiled.wgsl).
        KernelFamily::Tiled => {
            let source = with_format(format, shader!("matmul_tiled", "epilogue"));
            Kernel::new(gpu, "matmul_tiled", &source, &[], [32, 32, 1]).await
        }
        KernelFamily::Registers => {
            let t = RegisterTiles::for_loader(rows);
            // A matmul invocation owns 16 columns of ROWS rows (matmul_registers.wgsl); the
            // row loader goes first, as `enable` must.
            let source =
                [rows.wgsl(), &with_format(format, shader!("matmul_registers", "epilogue"))]
                    .concat();
            let constants = [("WG", t.matmul as f64), ("ROWS", t.matmul_rows as f64)];
            let workgroup = [16 * t.matmul, t.matmul_rows, 1];
            Kernel::new(gpu, "matmul_registers", &source, &constants, workgroup).await
        }
    }
}

impl Kernels {
    /// The matmul over weights in `format`: this set's own, or q4's q8 one.
    pub fn matmul_for(&self, format: WeightFormat) -> Option<&Kernel> {
        match format == self.format {
            true => Some(&self.matmul),
            false => self.q8_matmul.as_ref().filter(|_| format == WeightFormat::Q8),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::gpu::{Gpu, Step};

    /// One dispatch over `extent` output items, one submit, read `len` floats of `out` back.
    pub async fn run_once(
        gpu: &Gpu,
        step: &Step,
        extent: [u32; 3],
        out: &crate::gpu::GpuBuffer,
        len: usize,
    ) -> Vec<f32> {
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            step.dispatch_over(&mut pass, extent);
        }
        gpu.queue.submit([encoder.finish()]);
        gpu.read_back(out, len).await.expect("readback")
    }

    async fn compile(
        gpu: &Gpu,
        family: super::KernelFamily,
        format: super::WeightFormat,
    ) -> super::Kernels {
        super::Kernels::new(gpu, family, format)
            .await
            .unwrap_or_else(|e| panic!("{family:?} {format:?} kernels compile: {e}"))
    }

    /// The registers family with the row loader [`super::RowLoader::for_device`]
    /// does not pick, where the device can run it (the uniform loader where the
    /// device has subgroups), so that both loaders are tested wherever they can run.
    async fn other_rows(gpu: &Gpu, format: super::WeightFormat) -> Option<super::Kernels> {
        let rows = match super::RowLoader::for_device(gpu) {
            super::RowLoader::Subgroup => super::RowLoader::Uniform,
            super::RowLoader::Uniform => return None,
        };
        Some(
            super::Kernels::with_rows(gpu, super::KernelFamily::Registers, format, rows)
                .await
                .unwrap_or_else(|e| panic!("registers {format:?} {rows:?} kernels compile: {e}")),
        )
    }

    /// Both families' kernels for f32 weights, compiled once per test binary (the
    /// test device is shared too): every kernel test runs on both, whatever the adapter.
    pub async fn kernels(gpu: &Gpu) -> [super::Kernels; 2] {
        crate::gpu::testing::once!([super::Kernels; 2], {
            let [tiled, registers] = super::KernelFamily::ALL;
            [
                compile(gpu, tiled, super::WeightFormat::F32).await,
                compile(gpu, registers, super::WeightFormat::F32).await,
            ]
        })
    }

    /// Both families for every weight format, f32 first, and the registers
    /// family with its other row loader where there is one: the kernels that read weights.
    pub async fn all_kernels(gpu: &Gpu) -> Vec<super::Kernels> {
        let mut all = kernels(gpu).await.to_vec();
        all.extend(crate::gpu::testing::once!(Vec<super::Kernels>, {
            let mut more = Vec::new();
            for format in super::WeightFormat::ALL {
                if format != super::WeightFormat::F32 {
                    for family in super::KernelFamily::ALL {
                        more.push(compile(gpu, family, format).await);
                    }
                }
                more.extend(other_rows(gpu, format).await);
            }
            more
        }));
        all
    }
}
