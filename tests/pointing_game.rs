//! The pointing game (issue 18): do the demo model's heatmaps point at the
//! shape a label names? On the committed drawn scenes of two or three shapes
//! (`tests/fixtures/pointing-scenes/`, `tools/make_pointing_scenes.py`: seeded,
//! not filtered), each shape is one query, labelled "{colour} {shape}" among
//! the scene's shapes with the template "a {}"; it is a hit when the centre of
//! its map's highest cell falls inside the shape's drawn box widened by half a
//! cell. The expectation is where each shape was drawn, not a reference output.
//!
//! Measured with the shipped q4 demo model (after `tools/tune_demo_heatmaps.py`) at
//! its default resolution (96 px, a 12 × 12 grid), CPU engine: 258 of 261 queries
//! on colour-shape pairs it was trained on (98.9%), 113 of 118 on held-out pairs
//! (95.8%); a random cell would hit 14.1% (printed), the model before the
//! fine-tuning 75.5% and 72.0%. The target is 80% on both. The bounds
//! below are the measured figures less about 10 and 7 queries: an engine, a
//! processor or rounding may flip a near tie, not that many.
#![cfg(not(target_arch = "wasm32"))]

use std::path::Path;

use webclip::model::files::open_path;
use webclip::model::{ModelSource, Runtime};

const MIN_SEEN: f64 = 0.95;
const MIN_HELD_OUT: f64 = 0.9;

#[test]
fn demo_heatmaps_point_at_the_named_shape() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("tests/fixtures/pointing-scenes");
    let listing: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("scenes.json")).unwrap()).unwrap();
    let (file, _) = open_path(&root.join("www/models/demo/model-q4.webclip")).unwrap();
    let source = pollster::block_on(ModelSource::open(&file, None)).unwrap();
    let model = pollster::block_on(Runtime::cpu("tests").load(source, None)).unwrap();
    let templates = vec![listing["template"].as_str().unwrap().to_string()];
    // [seen, held out]: (hits, queries)
    let mut tally = [(0usize, 0usize); 2];
    let mut chance = Vec::new(); // per query: the share of cells that would hit
    for scene in listing["scenes"].as_array().unwrap() {
        let name = scene["file"].as_str().unwrap();
        let picture =
            webclip::image::decode(&std::fs::read(dir.join(name)).unwrap(), name).unwrap();
        let shapes = scene["shapes"].as_array().unwrap();
        let labels: Vec<String> = shapes
            .iter()
            .map(|s| format!("{} {}", s["colour"].as_str().unwrap(), s["shape"].as_str().unwrap()))
            .collect();
        let map = pollster::block_on(model.heatmap(&picture, &labels, &templates, None)).unwrap();
        assert_eq!(map.resolution, 96, "the demo model's default heatmap resolution");
        // Cell size and origin in the scene's pixels.
        let (cell, x0, y0) = (map.crop.width / map.cols as f64, map.crop.x, map.crop.y);
        for (l, shape) in shapes.iter().enumerate() {
            let values = &map.maps[l];
            let best = (0..values.len()).max_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap();
            let x = x0 + (best % map.cols) as f64 * cell + cell / 2.0;
            let y = y0 + (best / map.cols) as f64 * cell + cell / 2.0;
            let b: Vec<f64> =
                shape["box"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let half = cell / 2.0;
            let inside = |x: f64, y: f64| {
                b[0] - half <= x && x <= b[2] + half && b[1] - half <= y && y <= b[3] + half
            };
            let hit = inside(x, y);
            let centre =
                |i: usize, stride: usize, from: f64| from + (i % stride) as f64 * cell + half;
            let cells = (0..values.len())
                .filter(|&i| {
                    inside(centre(i, map.cols, x0), y0 + (i / map.cols) as f64 * cell + half)
                })
                .count();
            chance.push(cells as f64 / values.len() as f64);
            let t = &mut tally[usize::from(shape["held_out"].as_bool().unwrap())];
            t.0 += usize::from(hit);
            t.1 += 1;
        }
    }
    let rate = |(hits, n): (usize, usize)| hits as f64 / n as f64;
    let [seen, held_out] = tally;
    let chance = 100.0 * chance.iter().sum::<f64>() / chance.len() as f64;
    println!(
        "pointing game, demo model at 96 px: seen {}/{} ({:.1}%), held out {}/{} ({:.1}%), a random cell {chance:.1}%",
        seen.0,
        seen.1,
        100.0 * rate(seen),
        held_out.0,
        held_out.1,
        100.0 * rate(held_out)
    );
    assert!(rate(seen) >= MIN_SEEN, "seen pairs: {seen:?}");
    assert!(rate(held_out) >= MIN_HELD_OUT, "held-out pairs: {held_out:?}");
}
