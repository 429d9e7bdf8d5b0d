//! `config.json` (`ClipConfig::from_json`) and `preprocessor_config.json`
//! (`PreprocessConfig::from_json`) on arbitrary text: an error is fine, a
//! panic is not, and what parses must keep the promises the code after it
//! relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webclip::image::PreprocessConfig;
use webclip::model::ClipConfig;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    if let Ok(c) = ClipConfig::from_json(text) {
        for tower in [&c.vision.tower, &c.text.tower] {
            // The attention kernels split the width into whole heads.
            assert!(tower.heads > 0 && tower.head_dim() * tower.heads == tower.width, "{tower:?}");
            assert!(tower.intermediate > 0 && tower.eps > 0.0, "{tower:?}");
        }
        assert!(c.vision.patch_size > 0 && c.vision.grid() > 0 && c.vision.channels == 3, "{:?}", c.vision);
        assert!(c.text.vocab_size > 0 && c.text.max_positions > 0 && c.projection_dim > 0, "{:?}", c.text);
    }
    if let Ok(p) = PreprocessConfig::from_json(text) {
        // No division by zero, no empty output.
        assert!(!p.do_resize || p.shortest_edge > 0, "{p:?}");
        assert!(!p.do_center_crop || (p.crop_width > 0 && p.crop_height > 0), "{p:?}");
        assert!(!p.do_normalize || p.image_std.iter().all(|s| *s != 0.0 && s.is_finite()), "{p:?}");
    }
});
