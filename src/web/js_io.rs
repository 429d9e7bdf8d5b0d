//! Model bytes through JavaScript: a weights file read with the page's own
//! reader (HTTP Range requests, `File.slice`), and a sink the worker caches a
//! download into.

use std::future::Future;
use std::pin::Pin;

use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;

use super::{js_function, js_message, js_string};
use crate::model::weights::{ByteSink, TensorSource};

/// A weights file read through JavaScript (HTTP Range requests, `File.slice`).
pub struct JsSource {
    object: JsValue,
    read: js_sys::Function,
    name: String,
}

impl JsSource {
    pub fn new(object: JsValue) -> Result<JsSource, JsError> {
        let read = js_function(&object, "read").ok_or_else(|| {
            JsError::new("loadModel: the source has no read(offset, length) function")
        })?;
        let name = js_string(&object, "name").unwrap_or_else(|| "the weights file".into());
        Ok(JsSource { object, read, name })
    }

    /// `len` bytes at `offset`, as the JS reader returns them (outside wasm memory).
    async fn read_js(&self, offset: u64, len: usize) -> crate::Result<js_sys::Uint8Array> {
        let failed = |e: JsValue| crate::Error::file(&self.name, js_message(&e));
        let promise = self
            .read
            .call2(&self.object, &(offset as f64).into(), &(len as f64).into())
            .map_err(failed)?;
        let bytes = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&promise))
            .await
            .map_err(failed)?;
        let bytes = js_sys::Uint8Array::new(&bytes);
        if bytes.length() as usize != len {
            return Err(crate::Error::file(
                &self.name,
                format!(
                    "{len} bytes asked at {offset}, {} came (truncated download?)",
                    bytes.length()
                ),
            ));
        }
        Ok(bytes)
    }
}

impl TensorSource for JsSource {
    fn read(
        &self,
        offset: u64,
        len: usize,
    ) -> Pin<Box<dyn Future<Output = crate::Result<Vec<u8>>> + '_>> {
        Box::pin(async move { Ok(self.read_js(offset, len).await?.to_vec()) })
    }
    fn read_into<'b>(
        &'b self,
        offset: u64,
        out: &'b mut [u8],
    ) -> Pin<Box<dyn Future<Output = crate::Result<()>> + 'b>> {
        Box::pin(async move {
            self.read_js(offset, out.len()).await?.copy_to(out);
            Ok(())
        })
    }
    fn len(&self) -> Option<u64> {
        Reflect::get(&self.object, &"length".into()).ok().and_then(|v| v.as_f64()).map(|v| v as u64)
    }
    fn name(&self) -> &str {
        &self.name
    }
}

/// Where a load writes the model file it records (the worker's cache).
pub struct JsSink {
    object: Object,
    write: js_sys::Function,
    pub source: String,
}

impl JsSink {
    pub fn new(object: Object) -> Result<JsSink, JsError> {
        let write = js_function(&object, "write").ok_or_else(|| {
            JsError::new("loadModel: record has no write(offset, bytes) function")
        })?;
        let source = js_string(&object, "source").unwrap_or_default();
        Ok(JsSink { object, write, source })
    }
}

impl ByteSink for JsSink {
    fn write<'b>(
        &'b self,
        offset: u64,
        bytes: &'b [u8],
    ) -> Pin<Box<dyn Future<Output = crate::Result<()>> + 'b>> {
        Box::pin(async move {
            let failed = |e: JsValue| {
                crate::Error::file("the model cache", format!("writing failed: {}", js_message(&e)))
            };
            // A copy outside wasm memory: the sink may keep it past an await.
            let copy = js_sys::Uint8Array::from(bytes);
            let done =
                self.write.call2(&self.object, &(offset as f64).into(), &copy).map_err(failed)?;
            wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&done))
                .await
                .map_err(failed)?;
            Ok(())
        })
    }
}
