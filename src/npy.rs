//! Reading NumPy `.npy` arrays (little-endian f32 or f64, C order): how pixel
//! values and reference features travel between transformers and webclip.

use crate::error::{Error, Result};

/// A dense array: shape and values, converted to f64.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Array {
    pub fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| v as f32).collect()
    }
    /// Rows of the last dimension.
    pub fn rows(&self) -> Vec<Vec<f64>> {
        let width = self.shape.last().copied().unwrap_or(1).max(1);
        self.data.chunks(width).map(<[f64]>::to_vec).collect()
    }
}

/// Parses `.npy` bytes; `name` appears in errors.
pub fn parse(bytes: &[u8], name: &str) -> Result<Array> {
    let bad = |m: &str| Error::file(name, format!("not a usable .npy file: {m}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => {
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(bad(&format!("format version {v}"))),
    };
    let header = bytes.get(start..start + header_len).ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    let field = |key: &str| -> Result<&str> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or_else(|| bad(&format!("no '{key}' in header")))?;
        let rest = header[at + key.len() + 2..].trim_start().trim_start_matches(':').trim_start();
        Ok(rest)
    };
    let descr = field("descr")?;
    let width = if descr.starts_with("'<f4'") {
        4
    } else if descr.starts_with("'<f8'") {
        8
    } else {
        return Err(bad(&format!(
            "dtype {} (only little-endian float32 / float64)",
            descr.split(',').next().unwrap_or("")
        )));
    };
    if field("fortran_order")?.starts_with("True") {
        return Err(bad("Fortran order (save a C-contiguous array)"));
    }
    let shape_text = field("shape")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("unreadable shape"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad("unreadable shape")))
        .collect::<Result<Vec<_>>>()?;
    let body = &bytes[start + header_len..];
    let needed = shape.iter().try_fold(width as usize, |acc: usize, &d| acc.checked_mul(d));
    if needed != Some(body.len()) {
        let needed = needed.map_or("more than 2^64".to_string(), |n| n.to_string());
        return Err(bad(&format!(
            "shape {shape:?} needs {needed} bytes of data, found {}",
            body.len()
        )));
    }
    let data = if width == 4 {
        body.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect()
    } else {
        body.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect()
    };
    Ok(Array { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn reads_f32_and_f64() {
        let body: Vec<u8> =
            [1.0f32, 2.5, -3.0, 4.0, 5.0, 6.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let a = parse(&npy("<f4", "(2, 3)", &body), "a.npy").unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.rows(), vec![vec![1.0, 2.5, -3.0], vec![4.0, 5.0, 6.0]]);
        let body: Vec<u8> = [0.1f64].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(parse(&npy("<f8", "(1,)", &body), "b.npy").unwrap().data, vec![0.1]);
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(parse(b"nope", "x.npy").unwrap_err().to_string().contains("x.npy"));
        assert!(parse(&npy("<i8", "(1,)", &[0; 8]), "x.npy")
            .unwrap_err()
            .to_string()
            .contains("dtype"));
        assert!(parse(&npy("<f4", "(3,)", &[0; 8]), "x.npy")
            .unwrap_err()
            .to_string()
            .contains("needs 12 bytes"));
        assert!(parse(&npy("<f4", "(4611686018427387904, 4)", &[0; 8]), "x.npy")
            .unwrap_err()
            .to_string()
            .contains("more than 2^64"));
    }
}
