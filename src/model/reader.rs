//! Byte access to a weights file, asynchronous everywhere: a file on disk,
//! bytes in memory, or (in `src/web/`) HTTP Range requests and picked files.
//! What the bytes mean is for `header.rs`, `model_file.rs` and `weights.rs`.

use std::future::Future;
use std::pin::Pin;

use crate::error::{Error, Result};

/// A read or write under way (the browser's are HTTP requests and `File` reads).
pub type Reading<'b, T> = Pin<Box<dyn Future<Output = Result<T>> + 'b>>;

/// Byte ranges of a weights file, read asynchronously.
#[allow(clippy::len_without_is_empty)] // `len` may be unknown (None): emptiness is not a question it answers
pub trait TensorSource {
    /// `len` bytes at `offset`; an error if the file ends before.
    fn read(&self, offset: u64, len: usize) -> Reading<'_, Vec<u8>>;
    /// `out.len()` bytes at `offset`, straight into `out` (so an f32 tensor is
    /// read into its own vector, with no second copy).
    fn read_into<'b>(&'b self, offset: u64, out: &'b mut [u8]) -> Reading<'b, ()> {
        Box::pin(async move {
            out.copy_from_slice(&self.read(offset, out.len()).await?);
            Ok(())
        })
    }
    /// The file's length, when known before reading it all (a truncated file
    /// is then reported before anything is read).
    fn len(&self) -> Option<u64>;
    /// How errors name the file.
    fn name(&self) -> &str;
}

/// A weights file already in memory.
pub struct BytesSource<'a> {
    pub bytes: &'a [u8],
    pub name: String,
}

impl BytesSource<'_> {
    /// `len` bytes at `offset`, or an error naming where the bytes end.
    fn range(&self, offset: u64, len: usize) -> Result<&[u8]> {
        let range = usize::try_from(offset)
            .ok()
            .and_then(|start| self.bytes.get(start..start.checked_add(len)?));
        range.ok_or_else(|| {
            Error::file(
                &self.name,
                format!("ends at {} bytes, before {len} bytes at {offset}", self.bytes.len()),
            )
        })
    }
}

impl TensorSource for BytesSource<'_> {
    fn read(&self, offset: u64, len: usize) -> Reading<'_, Vec<u8>> {
        Box::pin(std::future::ready(self.range(offset, len).map(<[u8]>::to_vec)))
    }
    fn read_into<'b>(&'b self, offset: u64, out: &'b mut [u8]) -> Reading<'b, ()> {
        Box::pin(std::future::ready(
            self.range(offset, out.len()).map(|bytes| out.copy_from_slice(bytes)),
        ))
    }
    fn len(&self) -> Option<u64> {
        Some(self.bytes.len() as u64)
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// A weights file on disk, read tensor by tensor.
#[cfg(not(target_arch = "wasm32"))]
pub struct FileSource {
    file: std::sync::Mutex<std::fs::File>,
    len: u64,
    name: String,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileSource {
    pub fn open(path: &std::path::Path) -> Result<FileSource> {
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| Error::file(&name, e))?;
        let len = file.metadata().map_err(|e| Error::file(&name, e))?.len();
        Ok(FileSource { file: std::sync::Mutex::new(file), len, name })
    }

    fn read_exact_at(&self, offset: u64, out: &mut [u8]) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(out))
            .map_err(|e| Error::file(&self.name, format!("{} bytes at {offset}: {e}", out.len())))
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl TensorSource for FileSource {
    fn read(&self, offset: u64, len: usize) -> Reading<'_, Vec<u8>> {
        let mut bytes = vec![0; len];
        let done = self.read_exact_at(offset, &mut bytes).map(|()| bytes);
        Box::pin(std::future::ready(done))
    }
    fn read_into<'b>(&'b self, offset: u64, out: &'b mut [u8]) -> Reading<'b, ()> {
        Box::pin(std::future::ready(self.read_exact_at(offset, out)))
    }
    fn len(&self) -> Option<u64> {
        Some(self.len)
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// Where a load writes, as it goes, the model file of what it loaded (in the
/// weight format it loaded in): the browser caches a quantized download so.
pub trait ByteSink {
    /// `bytes` at `offset` of the file; any order, each byte once.
    fn write<'b>(&'b self, offset: u64, bytes: &'b [u8]) -> Reading<'b, ()>;
}

/// A file on disk written at offsets ([`ByteSink`]): `webclip convert` records
/// its model file into one. Writes in file order are buffered.
#[cfg(not(target_arch = "wasm32"))]
pub struct FileSink {
    name: String,
    /// The writer, and the offset it is at.
    writer: std::sync::Mutex<(std::io::BufWriter<std::fs::File>, u64)>,
}

#[cfg(not(target_arch = "wasm32"))]
impl FileSink {
    pub fn create(path: &std::path::Path) -> Result<FileSink> {
        match std::fs::File::create(path) {
            Ok(file) => Ok(FileSink {
                name: path.display().to_string(),
                writer: std::sync::Mutex::new((
                    std::io::BufWriter::with_capacity(1 << 20, file),
                    0,
                )),
            }),
            Err(e) => Err(Error::file(path.display(), e)),
        }
    }

    /// Writes what is buffered; the file's length.
    pub fn finish(&self) -> Result<u64> {
        use std::io::Write;
        let mut file = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        file.0.flush().map_err(|e| Error::file(&self.name, e))?;
        file.0.get_ref().metadata().map(|m| m.len()).map_err(|e| Error::file(&self.name, e))
    }

    fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        use std::io::{Seek, SeekFrom, Write};
        let mut guard = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (writer, at) = &mut *guard;
        if *at != offset {
            writer.seek(SeekFrom::Start(offset)).map_err(|e| Error::file(&self.name, e))?;
        }
        writer.write_all(bytes).map_err(|e| {
            Error::file(&self.name, format!("writing {} bytes at {offset}: {e}", bytes.len()))
        })?;
        *at = offset + bytes.len() as u64;
        Ok(())
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl ByteSink for FileSink {
    fn write<'b>(&'b self, offset: u64, bytes: &'b [u8]) -> Reading<'b, ()> {
        Box::pin(std::future::ready(self.write_at(offset, bytes)))
    }
}

/// The value of `future`, which must be ready at its first poll: so are the
/// reads of [`FileSource`] and [`BytesSource`] (synchronous under their async
/// face), which native code such as `webclip convert` uses without an event loop.
/// Nothing waits: a pending future is a bug, and panics.
pub fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut std::task::Context::from_waker(std::task::Waker::noop())) {
        std::task::Poll::Ready(value) => value,
        std::task::Poll::Pending => panic!("a read that should be ready at once is pending"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_source_names_a_short_file() {
        let source = BytesSource { bytes: &[1, 2, 3], name: "m.safetensors".into() };
        assert_eq!(ready(source.read(1, 2)).unwrap(), vec![2, 3]);
        assert!(ready(source.read(2, 2))
            .unwrap_err()
            .to_string()
            .contains("m.safetensors: ends at 3 bytes"));
    }
}
