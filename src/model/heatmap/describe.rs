//! A heatmap in words, for screen readers and the CLI: where its strongest
//! cell is (a ninth of the picture by name) and how much of the picture scores
//! at least half as high. The page and the CLI say the same sentence.

/// The ninths of a picture, row by row.
const PLACES: [[&str; 3]; 3] = [
    ["upper left", "top centre", "upper right"],
    ["left", "centre", "right"],
    ["lower left", "bottom centre", "lower right"],
];

/// "strongest in the upper left, where 12% of the picture scores at least half
/// as high" for `values` over `rows × cols` cells, row-major, from `lo` (a
/// label's floor: 0 for probabilities, the lowest cosine otherwise).
pub fn describe(values: &[f32], (rows, cols): (usize, usize), lo: f32) -> String {
    assert_eq!(values.len(), rows * cols, "a {rows}x{cols} heatmap");
    let Some((best, &peak)) = values.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) else {
        return "an empty map".into();
    };
    // Which third of each side the cell's centre falls in.
    let third = |i: usize, n: usize| ((3 * (2 * i + 1)) / (2 * n)).min(2);
    let place = PLACES[third(best / cols, rows)][third(best % cols, cols)];
    let half = lo + (peak - lo) / 2.0;
    let share = values.iter().filter(|&&v| v >= half).count() as f64 / values.len() as f64;
    format!(
        "strongest in the {place}, where {:.0}% of the picture scores at least half as high",
        100.0 * share
    )
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn the_peak_is_named_by_its_ninth() {
        // 4 x 4: row 0 is the top third ((3 · 1) / 8 = 0), column 3 the right ((3 · 7) / 8 = 2).
        let mut v = vec![0.0; 16];
        v[3] = 1.0;
        v[2] = 0.6;
        assert_eq!(
            describe(&v, (4, 4), 0.0),
            "strongest in the upper right, where 12% of the picture scores at least half as high"
        );
        // 3 x 3: the middle cell is the centre; 5 x 1 keeps columns in the middle.
        let mut c = vec![0.2; 9];
        c[4] = 0.9;
        assert!(describe(&c, (3, 3), 0.2).starts_with("strongest in the centre, where 11%"));
        assert!(describe(&[0.0, 0.0, 0.0, 0.0, 1.0], (5, 1), 0.0)
            .starts_with("strongest in the bottom centre"));
    }
}
