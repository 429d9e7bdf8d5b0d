//! The picture type every step of the image pipeline passes on: packed RGB8.

/// A decoded picture: packed RGB8, row-major, `data.len() == width * height * 3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}
