//! `webclip heatmap`: where in a picture each label matches (ClearCLIP, see
//! `webclip::model::heatmap`), as JSON, as words, or drawn over the picture.

use std::path::Path;

use serde_json::json;
use webclip::image::heatmap_layer::colour_layer;
use webclip::image::RgbImage;
use webclip::model::heatmap::{Crop, Heatmap};
use webclip::{Error, Result};

/// How strongly the map covers the picture in `-o`'s overlay; outside the
/// part the grid covers, the picture is dimmed to this share.
const OPACITY: f32 = 0.55;
const DIM: f32 = 0.4;

/// Prints `map` for the labels; writes the first label's overlay to `output`.
pub fn report(
    map: &Heatmap,
    picture: &RgbImage,
    output: Option<&Path>,
    as_json: bool,
) -> Result<()> {
    if as_json {
        let Crop { x, y, width, height } = map.crop;
        let descriptions: Vec<String> = (0..map.labels.len()).map(|l| map.description(l)).collect();
        println!(
            "{}",
            json!({
                "labels": map.labels,
                "rows": map.rows,
                "cols": map.cols,
                "resolution": map.resolution,
                "maps": map.maps,
                "cosines": map.cosines,
                "crop": { "x": x, "y": y, "width": width, "height": height },
                "descriptions": descriptions,
            })
        );
    } else {
        println!("{} x {} cells over a {} px square", map.rows, map.cols, map.resolution);
        for (l, label) in map.labels.iter().enumerate() {
            println!("{label}: {}", map.description(l));
        }
    }
    if let Some(path) = output {
        std::fs::write(path, overlay_png(map, picture)?)
            .map_err(|e| Error::file(path.display(), e))?;
    }
    Ok(())
}

/// The picture with the first label's map laid over the part the grid covers.
fn overlay_png(map: &Heatmap, picture: &RgbImage) -> Result<Vec<u8>> {
    let (w, h) = (picture.width as usize, picture.height as usize);
    let Crop { x, y, width, height } = map.crop;
    // The covered part in whole pixels of the picture.
    let (x0, y0) = (x.round().max(0.0) as usize, y.round().max(0.0) as usize);
    let (x1, y1) = (((x + width).round() as usize).min(w), ((y + height).round() as usize).min(h));
    let (values, range) = map.shown(0);
    let layer = colour_layer(values, (map.rows, map.cols), (x1 - x0, y1 - y0), range);
    let mut out: Vec<u8> = picture.data.iter().map(|&v| (f32::from(v) * DIM) as u8).collect();
    for py in y0..y1 {
        for px in x0..x1 {
            let at = 3 * (py * w + px);
            let from = 3 * ((py - y0) * (x1 - x0) + (px - x0));
            for c in 0..3 {
                let (pic, col) = (f32::from(picture.data[at + c]), f32::from(layer[from + c]));
                out[at + c] = (pic + (col - pic) * OPACITY).round() as u8;
            }
        }
    }
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, w as u32, h as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let failed = |e: png::EncodingError| Error::Internal(format!("writing the overlay PNG: {e}"));
    encoder.write_header().map_err(failed)?.write_image_data(&out).map_err(failed)?;
    Ok(png)
}
