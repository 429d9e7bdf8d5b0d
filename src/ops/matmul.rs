//! `shaders/matmul_tiled.wgsl` and `shaders/matmul_registers.wgsl`:
//! Y = act(X · Wᵀ + bias) + R, every linear layer of CLIP. Both read the weight
//! as a [`PackedWeight`] in any format (`ops/format.rs`) and share the epilogue
//! (`shaders/common/epilogue.wgsl`).

use crate::gpu::{Gpu, Kernel, Step, Uniform};
#[cfg(doc)]
use crate::ops::PackedWeight;

/// The MLP activation, as `hidden_act` in the config names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    None,
    /// `x · σ(1.702 x)`, OpenAI's released models.
    QuickGelu,
    /// Exact erf GELU.
    Gelu,
    /// GELU's tanh approximation `x/2 · (1 + tanh(√(2/π) (x + 0.044715 x³)))`:
    /// `gelu_pytorch_tanh`, SigLIP's.
    GeluTanh,
}

impl Activation {
    fn code(self) -> u32 {
        match self {
            Activation::None => 0,
            Activation::QuickGelu => 1,
            Activation::Gelu => 2,
            Activation::GeluTanh => 3,
        }
    }

    /// The activation in f64, for references.
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Activation::None => v,
            Activation::QuickGelu => v / (1.0 + (-1.702 * v).exp()),
            Activation::Gelu => 0.5 * v * erfc_f64(-v / std::f64::consts::SQRT_2),
            Activation::GeluTanh => {
                let inner = (2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v * v * v);
                0.5 * v * (1.0 + inner.tanh())
            }
        }
    }
}

/// erfc to ~1e-15 relative (continued fraction for large |x|, series for small): references only.
fn erfc_f64(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc_f64(-x);
    }
    if x < 2.5 {
        // erf series: 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))
        let (mut term, mut sum, mut n) = (x, x, 0.0);
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -x * x / n;
            sum += term / (2.0 * n + 1.0);
        }
        return 1.0 - sum * 2.0 / std::f64::consts::PI.sqrt();
    }
    // Lentz continued fraction: erfc x = e^{-x²}/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
    let mut f = x;
    for k in (1..60).rev() {
        f = x + (k as f64 / 2.0) / f;
    }
    (-x * x).exp() / std::f64::consts::PI.sqrt() / f
}

/// How `matmul_registers.wgsl` loads X's rows: the one function its variants
/// differ in (`shaders/common/rows_*.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowLoader {
    /// Every invocation loads every row it needs: one load for all lanes where
    /// the adapter sees that the address is uniform (lavapipe).
    Uniform,
    /// Each of four lanes loads one row and `subgroupBroadcast` shares it: a
    /// quarter of the loads where every lane pays for its own (SwiftShader).
    Subgroup,
}

impl RowLoader {
    /// Subgroups where the device was opened with them (browsers that offer
    /// them); the uniform loader elsewhere.
    pub fn for_device(gpu: &Gpu) -> RowLoader {
        if gpu.subgroups {
            RowLoader::Subgroup
        } else {
            RowLoader::Uniform
        }
    }

    pub fn wgsl(self) -> &'static str {
        match self {
            RowLoader::Uniform => include_str!("../../shaders/common/rows_uniform.wgsl"),
            RowLoader::Subgroup => include_str!("../../shaders/common/rows_subgroup.wgsl"),
        }
    }
}

/// What the matmul does after `X · Wᵀ`: `act(· + bias) + residual`, each part
/// optional. The model names them through `engine::Epilogue`, which carries
/// the bias and residual tensors themselves; this is what reaches the shader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpilogueFlags {
    pub bias: bool,
    pub act: Activation,
    pub residual: bool,
}

impl EpilogueFlags {
    /// `X · Wᵀ` alone (the patch embedding, the projections).
    pub const NONE: EpilogueFlags =
        EpilogueFlags { bias: false, act: Activation::None, residual: false };
    /// `X · Wᵀ + bias`.
    pub const BIAS: EpilogueFlags =
        EpilogueFlags { bias: true, act: Activation::None, residual: false };

    fn code(self) -> u32 {
        self.bias as u32 | (self.residual as u32) << 1 | self.act.code() << 2
    }
}

/// Shape and epilogue of one matmul call site (`Params` of both matmul shaders).
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct MatmulParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub flags: u32,
}

impl MatmulParams {
    pub fn new(m: usize, n: usize, k: usize, epilogue: EpilogueFlags) -> Self {
        MatmulParams { m: m as u32, n: n as u32, k: k as u32, flags: epilogue.code() }
    }

    /// Output columns and rows (the kernel says how many a workgroup covers).
    pub fn extent(&self) -> [u32; 3] {
        [self.n, self.m, 1]
    }
}

/// Binds one matmul; `w` holds a [`PackedWeight`] in the kernels' format
/// ([`PackedWeight::upload`]). Unused optional inputs
/// are bound to `x` (read-only, never read).
#[allow(clippy::too_many_arguments)] // one per binding of the kernel
pub fn bind(
    kernel: &Kernel,
    gpu: &Gpu,
    params: &Uniform<MatmulParams>,
    x: &crate::gpu::GpuBuffer,
    w: &crate::gpu::GpuBuffer,
    bias: Option<&crate::gpu::GpuBuffer>,
    residual: Option<&crate::gpu::GpuBuffer>,
    y: &crate::gpu::GpuBuffer,
) -> Step {
    kernel.bind(gpu, &[&params.buffer, x, w, bias.unwrap_or(x), residual.unwrap_or(x), y])
}

/// f64 reference.
pub fn reference(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    (m, n, k): (usize, usize, usize),
    act: Activation,
) -> Vec<f64> {
    let mut y = vec![0.0; m * n];
    for r in 0..m {
        for c in 0..n {
            let mut v: f64 = (0..k).map(|i| x[r * k + i] as f64 * w[c * k + i] as f64).sum();
            v += bias.map_or(0.0, |b| b[c] as f64);
            v = act.apply(v);
            v += residual.map_or(0.0, |res| res[r * n + c] as f64);
            y[r * n + c] = v;
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::testing::{assert_close, poisoned, random};
    use crate::ops::test_support::{all_kernels, run_once};
    use crate::ops::PackedWeight;

    async fn check(
        gpu: &Gpu,
        (m, n, k): (usize, usize, usize),
        bias: bool,
        act: Activation,
        residual: bool,
    ) {
        let x = random(m * k, 1, 1.0);
        let w = random(n * k, 2, 0.5);
        let b = random(n, 3, 1.0);
        let r = random(m * n, 4, 1.0);
        let params = MatmulParams::new(m, n, k, EpilogueFlags { bias, act, residual });
        let (b_buf, r_buf, x_buf) = (gpu.upload("b", &b), gpu.upload("r", &r), gpu.upload("x", &x));
        for ks in all_kernels(gpu).await {
            // The reference multiplies by exactly the values the packed bytes stand for.
            let packed = PackedWeight::pack(ks.format, &w, n, k);
            let want = reference(
                &x,
                &packed.dequantize(),
                bias.then_some(&b[..]),
                residual.then_some(&r[..]),
                (m, n, k),
                act,
            );
            let w_buf = packed.upload(gpu, "w");
            let y = poisoned(gpu, "y", m * n);
            let step = bind(
                &ks.matmul,
                gpu,
                &Uniform::new(gpu, "test", &params),
                &x_buf,
                &w_buf,
                bias.then_some(&b_buf),
                residual.then_some(&r_buf),
                &y,
            );
            let got = run_once(gpu, &step, params.extent(), &y, m * n).await;
            // f32 accumulation over k terms of magnitude <= 0.5: rounding stays far below 1e-5.
            assert_close(
                &format!(
                    "{:?} {:?} (rows {:?}) matmul {m}x{n}x{k} {act:?} bias={bias} res={residual}",
                    ks.family, ks.format, ks.rows
                ),
                &got,
                &want,
                1e-5,
                1e-4,
            );
        }
    }

    crate::gpu_test! {
        async fn matmul_odd_shapes(gpu: Gpu) {
            // Edges of both families' tiles: 1, 17, 33 and 65 columns; 9, 77 and 130 rows (the
            // registers family's 8 and 32); k past a slab; k a multiple of 4 and not.
            for shape in [(1, 1, 1), (37, 97, 44), (65, 63, 17), (9, 17, 33), (130, 200, 129), (3, 300, 1000), (77, 50, 64)] {
                check(&gpu, shape, false, Activation::None, false).await;
            }
        }
        async fn matmul_epilogues(gpu: Gpu) {
            for act in [Activation::None, Activation::QuickGelu, Activation::Gelu, Activation::GeluTanh] {
                check(&gpu, (37, 97, 44), true, act, false).await;
                check(&gpu, (70, 33, 130), true, act, true).await;
            }
        }
    }

    #[test]
    fn erfc_reference_matches_known_values() {
        // Abramowitz & Stegun table values.
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028513),
            (3.0, 2.209049699858544e-05),
            (-1.0, 1.8427007929497148),
        ] {
            assert!(
                (erfc_f64(x) - want).abs() <= 1e-14 * want,
                "erfc({x}) = {} want {want}",
                erfc_f64(x)
            );
        }
    }
}
