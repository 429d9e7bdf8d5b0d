//! Named tensors from a `model.safetensors` (or a webclip model file), checked
//! against the shapes the config implies; small tensors as f32 (fp16 and bf16
//! checkpoints included), matrices packed in the GPU weight format.

use std::cell::RefCell;
use std::collections::BTreeSet;

use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};
use crate::ops::{PackedWeight, WeightFormat};

use super::model_file;

/// A parsed safetensors file. Every tensor read is recorded, so that leftovers
/// (a config with fewer layers than the weights) are reported, not ignored.
pub struct Weights<'a> {
    tensors: SafeTensors<'a>,
    source: String,
    used: RefCell<BTreeSet<String>>,
    /// The format [`Weights::matrix`] packs matrices into.
    pub format: WeightFormat,
    /// A webclip model file: matrices are stored packed in `format` already.
    packed: bool,
}

impl<'a> Weights<'a> {
    pub fn parse(bytes: &'a [u8], source: &str, format: WeightFormat) -> Result<Weights<'a>> {
        let (_, metadata) = model_file::read_header(bytes, source)?;
        let stored = model_file::stored_format(&metadata, source)?;
        if let Some(stored) = stored.filter(|&f| f != format) {
            return Err(Error::file(source, format!("holds {} weights, not {}: convert the checkpoint again with --quant {}", stored.name(), format.name(), format.name())));
        }
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| Error::file(source, format!("not a safetensors file: {e}")))?;
        Ok(Weights { tensors, source: source.to_string(), used: RefCell::new(BTreeSet::new()), format, packed: stored.is_some() })
    }

    /// A weight the kernels multiply by (`shape[0]` outputs, the product of the
    /// rest inputs: a convolution's kernel is flattened), in [`Weights::format`].
    pub fn matrix(&self, name: &str, shape: &[usize]) -> Result<PackedWeight> {
        debug_assert!(model_file::is_matrix(name), "{name} is read as a matrix but model_file::is_matrix does not list it");
        let (n, k) = (shape[0], shape[1..].iter().product());
        if !self.packed {
            return Ok(PackedWeight::pack(self.format, &self.get(name, shape)?, n, k));
        }
        let (dtype, data_shape, scales_shape) = model_file::packed_layout(self.format, n, k);
        let data = self.raw(name, dtype, &data_shape, shape)?;
        let scales = match scales_shape {
            Some(s) => self.raw(&model_file::scales_name(name), Dtype::F16, &s, shape)?,
            None => &[],
        };
        Ok(PackedWeight::from_bytes(self.format, n, k, data, scales))
    }

    /// The bytes of a stored packed tensor, after checking its dtype and shape.
    fn raw(&self, name: &str, dtype: Dtype, shape: &[usize], logical: &[usize]) -> Result<&'a [u8]> {
        let view = self.tensors.tensor(name).map_err(|_| Error::tensor(name, format!("missing from {}", self.source)))?;
        if view.dtype() != dtype || view.shape() != shape {
            return Err(Error::tensor(name, format!(
                "is {:?} {:?} in {}; a {} matrix {logical:?} is stored as {dtype:?} {shape:?}",
                view.dtype(), view.shape(), self.source, self.format.name()
            )));
        }
        self.used.borrow_mut().insert(name.to_string());
        Ok(view.data())
    }

    /// The tensor `name` as f32, after checking it has exactly `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|_| Error::tensor(name, format!("missing from {}", self.source)))?;
        if view.shape() != shape {
            return Err(Error::tensor(name, format!("has shape {:?} in {}, the config implies {:?}", view.shape(), self.source, shape)));
        }
        self.used.borrow_mut().insert(name.to_string());
        to_f32(name, view.dtype(), view.data())
    }

    /// A scalar stored as shape `[]` (or `[1]`, as some exports write it).
    pub fn scalar(&self, name: &str) -> Result<f32> {
        let shape = self.tensors.tensor(name).map(|v| v.shape().to_vec()).unwrap_or_default();
        let values = self.get(name, if shape == [1] { &[1] } else { &[] })?;
        Ok(values[0])
    }

    /// Errors on any tensor of the towers that was never read: the weights hold
    /// something the config does not describe (`position_ids` buffers aside).
    pub fn check_all_used(&self) -> Result<()> {
        let used = self.used.borrow();
        let extra = self
            .tensors
            .names()
            .into_iter()
            .filter(|n| !used.contains(*n) && !n.ends_with("position_ids"))
            .min();
        match extra {
            None => Ok(()),
            Some(name) => Err(Error::tensor(name, format!("is in {} but not described by config.json (wrong num_hidden_layers, or not a CLIP checkpoint?)", self.source))),
        }
    }
}

/// A float tensor's little-endian bytes as f32.
pub fn to_f32(name: &str, dtype: Dtype, data: &[u8]) -> Result<Vec<f32>> {
    Ok(match dtype {
        Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        other => return Err(Error::tensor(name, format!("has dtype {other:?}; only F32, F16 and BF16 are supported"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::{serialize, TensorView};

    fn file(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(n, d, s, b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        serialize(views, None).unwrap()
    }

    #[test]
    fn converts_every_float_dtype() {
        let f16: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
        let bf16: Vec<u8> = [0.25f32, 3.0].iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect();
        let f32s: Vec<u8> = [7.0f32].iter().flat_map(|v| v.to_le_bytes()).collect();
        let bytes = file(&[("a", Dtype::F16, vec![2], f16), ("b", Dtype::BF16, vec![1, 2], bf16), ("s", Dtype::F32, vec![], f32s)]);
        let w = Weights::parse(&bytes, "m.safetensors", WeightFormat::F32).unwrap();
        assert_eq!(w.get("a", &[2]).unwrap(), vec![1.5, -2.0]);
        assert_eq!(w.get("b", &[1, 2]).unwrap(), vec![0.25, 3.0]);
        assert_eq!(w.scalar("s").unwrap(), 7.0);
        w.check_all_used().unwrap();
    }

    #[test]
    fn errors_name_the_tensor() {
        let bytes = file(&[("w", Dtype::F32, vec![2, 2], vec![0; 16]), ("extra", Dtype::F32, vec![1], vec![0; 4]), ("i", Dtype::I64, vec![1], vec![0; 8])]);
        let w = Weights::parse(&bytes, "m.safetensors", WeightFormat::F32).unwrap();
        let shape = w.get("w", &[2, 3]).unwrap_err().to_string();
        assert!(shape.contains("tensor w") && shape.contains("[2, 2]") && shape.contains("[2, 3]"), "{shape}");
        assert!(w.get("nope", &[1]).unwrap_err().to_string().contains("tensor nope: missing"));
        assert!(w.get("i", &[1]).unwrap_err().to_string().contains("dtype I64"));
        w.get("w", &[2, 2]).unwrap();
        assert!(w.check_all_used().unwrap_err().to_string().contains("tensor extra"));
        assert!(Weights::parse(b"garbage", "x.safetensors", WeightFormat::F32).is_err());
    }
}
