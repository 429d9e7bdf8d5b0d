//! The weight formats and their layouts: what each format is called, its WGSL include, and
//! where it puts the numbers of an `[n, k]` weight (the table in the parent module).

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WeightFormat {
    F32,
    F16,
    Q8,
    Q4,
}

/// Weights per quantization block (along k), each block one f16 scale.
pub const QUANT_BLOCK: usize = 32;

impl WeightFormat {
    pub const ALL: [WeightFormat; 4] =
        [WeightFormat::F32, WeightFormat::F16, WeightFormat::Q8, WeightFormat::Q4];

    pub fn name(self) -> &'static str {
        match self {
            WeightFormat::F32 => "f32",
            WeightFormat::F16 => "f16",
            WeightFormat::Q8 => "q8",
            WeightFormat::Q4 => "q4",
        }
    }

    pub fn parse(name: &str) -> Result<WeightFormat> {
        Self::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
            Error::Input(format!("unknown weight format {name:?} (expected f32, f16, q8 or q4)"))
        })
    }

    /// The WGSL include: `alias WeightWord`, `weight_unit` and `weight_block`.
    pub fn wgsl(self) -> &'static str {
        match self {
            WeightFormat::F32 => include_str!("../../../shaders/formats/f32.wgsl"),
            WeightFormat::F16 => include_str!("../../../shaders/formats/f16.wgsl"),
            WeightFormat::Q8 => concat!(
                include_str!("../../../shaders/formats/block_scales.wgsl"),
                include_str!("../../../shaders/formats/q8.wgsl")
            ),
            WeightFormat::Q4 => concat!(
                include_str!("../../../shaders/formats/block_scales.wgsl"),
                include_str!("../../../shaders/formats/q4.wgsl")
            ),
        }
    }

    fn quantized(self) -> bool {
        matches!(self, WeightFormat::Q8 | WeightFormat::Q4)
    }

    /// k is padded to a multiple of this.
    pub fn k_block(self) -> usize {
        if self.quantized() {
            QUANT_BLOCK
        } else {
            4
        }
    }

    /// Where an `[n, k]` weight's numbers go in this format.
    pub fn layout(self, n: usize, k: usize) -> Layout {
        let (np, kp) = (n.div_ceil(4) * 4, k.div_ceil(self.k_block()) * self.k_block());
        let scale_rows = if self.quantized() { kp / QUANT_BLOCK } else { 0 };
        Layout {
            np,
            kp,
            data_rows: kp / self.k_per_row(),
            words_per_column: self.words_per_column(),
            scale_rows,
        }
    }

    /// Consecutive k one data word (or word group) holds per column.
    pub(super) fn k_per_row(self) -> usize {
        if self == WeightFormat::Q4 {
            8
        } else {
            4
        }
    }

    /// 32-bit words per column in one data row.
    pub(super) fn words_per_column(self) -> usize {
        match self {
            WeightFormat::F32 => 4,
            WeightFormat::F16 => 2,
            WeightFormat::Q8 | WeightFormat::Q4 => 1,
        }
    }
}

/// The shape of a packed weight: `data_rows` rows of `np` columns of
/// `words_per_column` words, then `scale_rows` rows of `np` f16 scales.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// n rounded up to 4.
    pub np: usize,
    /// k rounded up to the format's block.
    pub kp: usize,
    pub data_rows: usize,
    pub words_per_column: usize,
    pub scale_rows: usize,
}

impl Layout {
    pub fn bytes(&self) -> usize {
        self.data_rows * self.np * self.words_per_column * 4 + self.scale_rows * self.np * 2
    }
}
