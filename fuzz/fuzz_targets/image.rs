//! Picture bytes to CLIP's input: `image::decode` (PNG, JPEG, WebP, GIF, BMP,
//! to RGB) then `image::preprocess` to 3 x 224 x 224 normalised floats. Run
//! with `-rss_limit_mb=2048 -malloc_limit_mb=2048`: a header may claim up to
//! `MAX_PIXELS` pixels, and anything beyond that must be refused before a
//! buffer is allocated for it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webclip::image::{decode, preprocess, PreprocessConfig};

fuzz_target!(|bytes: &[u8]| {
    let Ok(img) = decode(bytes, "fuzz") else { return };
    assert!(img.width > 0 && img.height > 0, "{}x{}", img.width, img.height);
    assert_eq!(img.data.len(), img.width as usize * img.height as usize * 3);
    let pixels = preprocess(&img, &PreprocessConfig::clip_default(224));
    assert_eq!(pixels.len(), 3 * 224 * 224);
    assert!(pixels.iter().all(|v| v.is_finite()));
});
