//! `Image`: a decoded picture handed to JavaScript and back.

use wasm_bindgen::prelude::*;

use crate::clock::now_ms as now;
use crate::image::{self, RgbImage};

/// A decoded picture, ready for any model.
#[wasm_bindgen]
pub struct Image {
    pub(super) rgb: RgbImage,
    pub(super) decode_ms: f64,
}

#[wasm_bindgen]
impl Image {
    /// PNG, JPEG, WebP, GIF or BMP file bytes, decoded exactly as transformers
    /// + Pillow do; `name` only appears in error messages.
    pub fn decode(bytes: &[u8], name: &str) -> Result<Image, JsError> {
        let start = now();
        let rgb = image::decode(bytes, name)?;
        Ok(Image { rgb, decode_ms: now() - start })
    }

    /// Straight (not premultiplied) RGBA8, as in `ImageData`.
    #[wasm_bindgen(js_name = fromRgba)]
    pub fn from_rgba(width: u32, height: u32, rgba: &[u8], name: &str) -> Result<Image, JsError> {
        let start = now();
        let rgb = image::from_rgba(width, height, rgba, name)?;
        Ok(Image { rgb, decode_ms: now() - start })
    }

    /// `[width, height]` of JPEG bytes after the checks `decode` makes (a
    /// decompression bomb throws here, before any decoder runs); undefined
    /// for other formats. The worker lets the browser decode JPEG when it is
    /// proven Pillow-exact, and asks this first.
    #[wasm_bindgen(js_name = jpegSize)]
    pub fn jpeg_size(bytes: &[u8], name: &str) -> Result<Option<Vec<u32>>, JsError> {
        Ok(image::jpeg_size(bytes, name)?.map(|(w, h)| vec![w, h]))
    }

    /// `[width, height]` of PNG, JPEG, WebP, GIF or BMP bytes from their header, after
    /// the checks `decode` makes before any pixel (a decompression bomb throws here):
    /// the page asks it before it lets the browser show the picture.
    #[wasm_bindgen(js_name = headerSize)]
    pub fn header_size(bytes: &[u8], name: &str) -> Result<Vec<u32>, JsError> {
        let (w, h) = image::header_size(bytes, name)?;
        Ok(vec![w, h])
    }

    /// The decoded pixels, packed RGB8 (tests compare them with Pillow's).
    #[wasm_bindgen(getter)]
    pub fn rgb(&self) -> Vec<u8> {
        self.rgb.data.clone()
    }

    #[wasm_bindgen(getter)]
    pub fn width(&self) -> u32 {
        self.rgb.width
    }

    #[wasm_bindgen(getter)]
    pub fn height(&self) -> u32 {
        self.rgb.height
    }
}
