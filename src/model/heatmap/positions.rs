//! Position embeddings for a larger input, as transformers' `CLIPVisionEmbeddings.
//! interpolate_pos_encoding` makes them: the class position kept, the patch positions
//! (a `grid × grid` image of `width` channels) resized to `new_grid × new_grid` by
//! PyTorch's `F.interpolate(mode="bicubic", align_corners=False)`: cubic convolution
//! with `A = -0.75`, source coordinate `(dst + 0.5) · in / out - 0.5`, neighbours
//! clamped at the border, no antialiasing. Computed in f64 on the CPU once per
//! resolution (a ViT-B/32 at 448 px: 196 × 768 values).

/// PyTorch's cubic convolution constant (`upsample_bicubic2d`).
const A: f64 = -0.75;

/// The four weights of the neighbours at offsets -1, 0, 1, 2 from `floor(x)`, for `t = x - floor(x)`.
fn weights(t: f64) -> [f64; 4] {
    let near = |x: f64| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let far = |x: f64| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

/// For each output index: its four source indices (clamped) and their weights.
fn taps(from: usize, to: usize) -> Vec<([usize; 4], [f64; 4])> {
    let scale = from as f64 / to as f64;
    (0..to)
        .map(|dst| {
            let x = scale * (dst as f64 + 0.5) - 0.5;
            let floor = x.floor();
            let at = |offset: i64| (floor as i64 + offset).clamp(0, from as i64 - 1) as usize;
            ([at(-1), at(0), at(1), at(2)], weights(x - floor))
        })
        .collect()
}

/// `positions` (`[1 + grid², width]`, the class position first) for a `new_grid × new_grid`
/// patch grid: `[1 + new_grid², width]`. The same grid returns them unchanged, as
/// transformers does.
pub fn interpolate(positions: &[f32], grid: usize, new_grid: usize, width: usize) -> Vec<f32> {
    assert_eq!(positions.len(), (1 + grid * grid) * width, "positions of a {grid}x{grid} grid");
    if new_grid == grid {
        return positions.to_vec();
    }
    let patch = |y: usize, x: usize, c: usize| f64::from(positions[(1 + y * grid + x) * width + c]);
    let taps = taps(grid, new_grid);
    let mut out = Vec::with_capacity((1 + new_grid * new_grid) * width);
    out.extend_from_slice(&positions[..width]);
    for (ys, wy) in &taps {
        for (xs, wx) in &taps {
            for c in 0..width {
                let row = |y: usize| (0..4).map(|i| wx[i] * patch(y, xs[i], c)).sum::<f64>();
                out.push((0..4).map(|j| wy[j] * row(ys[j])).sum::<f64>() as f32);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{interpolate, taps, weights};

    #[test]
    fn cubic_weights_are_pytorchs() {
        // t = 0: the sample itself. t = 0.5 by hand with A = -0.75: near(0.5) =
        // (1.25 · 0.5 - 2.25) · 0.25 + 1 = 0.59375, far(1.5) = ((-0.75 · 1.5 + 3.75) · 1.5
        // - 6) · 1.5 + 3 = -0.09375.
        assert_eq!(weights(0.0), [0.0, 1.0, 0.0, 0.0]);
        assert_eq!(weights(0.5), [-0.09375, 0.59375, 0.59375, -0.09375]);
        for t in [0.1, 0.25, 0.7, 0.99] {
            assert!((weights(t).iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn doubling_samples_between_the_old_positions() {
        // 2 → 4: sources (dst + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25; the first
        // floor is -1, clamped to index 0 like every neighbour outside the grid.
        let t = taps(2, 4);
        assert_eq!(t[0].0, [0, 0, 0, 1]);
        assert!((t[0].1[1] - weights(0.75)[1]).abs() < 1e-15);
        assert_eq!(t[3].0, [0, 1, 1, 1]);
    }

    #[test]
    fn a_constant_stays_constant_and_the_class_position_is_kept() {
        let (grid, width) = (3, 2);
        let mut positions = vec![7.0, -7.0];
        positions.extend((0..grid * grid).flat_map(|_| [0.25f32, 4.0]));
        let out = interpolate(&positions, grid, 5, width);
        assert_eq!(out.len(), (1 + 25) * width);
        assert_eq!(&out[..2], &[7.0, -7.0]);
        for pair in out[2..].chunks(2) {
            assert!((pair[0] - 0.25).abs() < 1e-6 && (pair[1] - 4.0).abs() < 1e-6, "{pair:?}");
        }
        assert_eq!(interpolate(&positions, grid, grid, width), positions);
    }
}
