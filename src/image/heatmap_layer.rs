//! A heatmap grid as a colour layer to lay over a picture: values sampled
//! bilinearly between cell centres (a smooth map, not blocks), mapped through
//! viridis (perceptually uniform, readable in grey and by most colour-blind
//! readers). The CLI blends it into a PNG; the page draws it on a canvas over
//! the picture, with the reader's opacity.

/// Viridis at 9 evenly spaced points (matplotlib's `_viridis_data`, entries 0,
/// 32, ..., 255, rounded to 8 bits), interpolated linearly between them.
const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [71, 44, 122],
    [59, 81, 139],
    [44, 113, 142],
    [33, 144, 141],
    [39, 173, 129],
    [92, 200, 99],
    [170, 220, 50],
    [253, 231, 37],
];

/// The viridis colour of `t` in `[0, 1]` (clamped).
pub fn viridis(t: f32) -> [u8; 3] {
    let x = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f32;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f32;
    let mix = |c: usize| {
        let (a, b) = (f32::from(VIRIDIS[i][c]), f32::from(VIRIDIS[i + 1][c]));
        (a + (b - a) * f).round() as u8
    };
    [mix(0), mix(1), mix(2)]
}

/// `rows × cols` values (row-major) as a `width × height` RGB layer (3 bytes a
/// pixel): each pixel's value bilinear between the centres of the cells around
/// it (held flat beyond the outer centres), `lo..hi` mapped to viridis.
pub fn colour_layer(
    values: &[f32],
    (rows, cols): (usize, usize),
    (width, height): (usize, usize),
    (lo, hi): (f32, f32),
) -> Vec<u8> {
    assert_eq!(values.len(), rows * cols, "a {rows}x{cols} heatmap");
    let span = if hi > lo { hi - lo } else { 1.0 };
    // For each output coordinate: the two cells around it and the weight of the second.
    let axis = |cells: usize, pixels: usize| -> Vec<(usize, usize, f32)> {
        (0..pixels)
            .map(|p| {
                let x = ((p as f32 + 0.5) * cells as f32 / pixels as f32 - 0.5)
                    .clamp(0.0, (cells - 1) as f32);
                let i = x.floor() as usize;
                (i, (i + 1).min(cells - 1), x - i as f32)
            })
            .collect()
    };
    let (ys, xs) = (axis(rows, height), axis(cols, width));
    let mut out = Vec::with_capacity(width * height * 3);
    for &(y0, y1, fy) in &ys {
        for &(x0, x1, fx) in &xs {
            let at = |y: usize, x: usize| values[y * cols + x];
            let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
            let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
            out.extend(viridis((top + (bottom - top) * fy - lo) / span));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{colour_layer, viridis};

    #[test]
    fn viridis_runs_from_purple_to_yellow() {
        assert_eq!(viridis(0.0), [68, 1, 84]); // matplotlib's #440154
        assert_eq!(viridis(1.0), [253, 231, 37]); // #fde725
        assert_eq!(viridis(-3.0), viridis(0.0));
        // Halfway between entries 4 and 5 of the table.
        assert_eq!(viridis(0.5 + 0.0625), [36, 159, 135]);
    }

    #[test]
    fn the_layer_is_bilinear_between_cell_centres() {
        // 1 x 2 cells (0 and 1) over 4 x 1 pixels: pixel centres 0.5..3.5 → cell
        // coordinates -0.25, 0.25, 0.75, 1.25: clamped to 0, then 0.25, 0.75, clamped to 1.
        let layer = colour_layer(&[0.0, 1.0], (1, 2), (4, 1), (0.0, 1.0));
        let px: Vec<[u8; 3]> = layer.chunks(3).map(|c| [c[0], c[1], c[2]]).collect();
        assert_eq!(px, [viridis(0.0), viridis(0.25), viridis(0.75), viridis(1.0)]);
        // A flat map is one colour, whatever its size.
        let flat = colour_layer(&[0.3; 6], (2, 3), (5, 7), (0.0, 1.0));
        assert!(flat.chunks(3).all(|c| c == viridis(0.3)));
    }
}
