//! A [`Heatmap`] as the plain JS object `Model.heatmap` returns (it survives
//! `postMessage`), with each label's map drawn as RGBA when asked.

use js_sys::{Array, Float32Array, Uint8ClampedArray};
use wasm_bindgen::JsValue;

use super::object;
use crate::image::heatmap_layer::colour_layer;
use crate::model::heatmap::Heatmap;

/// Sides an overlay may ask for: enough for a phone's full width at 2x, and
/// never a multi-megabyte reply per label.
const OVERLAY_PX: std::ops::RangeInclusive<usize> = 16..=1024;

pub(super) fn to_js(map: &Heatmap, overlay_px: Option<usize>) -> JsValue {
    let floats = |rows: &[Vec<f32>]| -> Array {
        rows.iter().map(|r| JsValue::from(Float32Array::from(r.as_slice()))).collect()
    };
    let labels: Array = map.labels.iter().map(|l| JsValue::from(l.as_str())).collect();
    let descriptions: Array =
        (0..map.labels.len()).map(|l| JsValue::from(map.description(l))).collect();
    let crop = object(&[
        ("x", map.crop.x.into()),
        ("y", map.crop.y.into()),
        ("width", map.crop.width.into()),
        ("height", map.crop.height.into()),
    ]);
    let mut fields = vec![
        ("labels", labels.into()),
        ("rows", (map.rows as f64).into()),
        ("cols", (map.cols as f64).into()),
        ("resolution", (map.resolution as f64).into()),
        ("maps", floats(&map.maps).into()),
        ("cosines", floats(&map.cosines).into()),
        ("crop", crop),
        ("descriptions", descriptions.into()),
    ];
    if let Some(px) = overlay_px {
        let side = px.clamp(*OVERLAY_PX.start(), *OVERLAY_PX.end());
        let overlays: Array = (0..map.labels.len())
            .map(|l| {
                let (values, range) = map.shown(l);
                let rgb = colour_layer(values, (map.rows, map.cols), (side, side), range);
                let rgba: Vec<u8> = rgb.chunks(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
                object(&[
                    ("width", (side as f64).into()),
                    ("height", (side as f64).into()),
                    ("data", Uint8ClampedArray::from(rgba.as_slice()).into()),
                ])
            })
            .collect();
        fields.push(("overlays", overlays.into()));
    }
    object(&fields)
}
