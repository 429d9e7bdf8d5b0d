//! Near-duplicates: pictures whose embeddings' cosine is at least a threshold,
//! grouped by single linkage (a picture joins a group when it is that close to
//! any member). Every pair is compared: n²/2 integer dot products of `dim`
//! codes (10,000 pictures of 512 values: 5.8 s in Chromium, `BENCHMARKS.md`).

use super::SearchIndex;
use crate::error::{Error, Result};

/// The default threshold. Measured on the committed search folder with the demo
/// model (`tests/search.rs`): planted copies (a smaller JPEG, a cropped and
/// blurred PNG, a byte copy) score at least 0.990 with their originals,
/// different drawings at most 0.722. Other models and real photos may want it
/// moved: the CLI takes `--threshold`, the page has a slider.
pub const DEFAULT_THRESHOLD: f32 = 0.95;

/// Most pictures compared at once: 100,000 is 5·10⁹ pairs, minutes of work.
pub const MAX_COMPARED: usize = 100_000;

/// Union-find over picture positions.
struct Groups(Vec<usize>);

impl Groups {
    fn root(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }
    fn join(&mut self, a: usize, b: usize) {
        let (a, b) = (self.root(a), self.root(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

impl SearchIndex {
    /// Groups of two or more pictures (positions, ascending), biggest first,
    /// then in index order.
    pub fn duplicates(&self, threshold: f32) -> Result<Vec<Vec<usize>>> {
        if !(threshold > 0.0 && threshold <= 1.0) {
            return Err(Error::Input(format!(
                "a duplicate threshold of {threshold} (a cosine above 0, at most 1)"
            )));
        }
        let n = self.len();
        if n > MAX_COMPARED {
            return Err(Error::Input(format!(
                "{n} pictures: near-duplicates are found among at most {MAX_COMPARED}"
            )));
        }
        let mut groups = Groups((0..n).collect());
        self.codes.close_pairs(threshold, |i, j| groups.join(i, j));
        let mut members: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
        for i in 0..n {
            let r = groups.root(i);
            members.entry(r).or_default().push(i);
        }
        let mut out: Vec<Vec<usize>> = members.into_values().filter(|g| g.len() > 1).collect();
        out.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{test_index, Entry};

    #[test]
    fn close_pictures_group_and_chains_join() {
        let mut ix = test_index(2);
        // Angles in degrees: 0 and 10 (cos 0.985), 20 (0.985 with 10), 60 alone, 90 and 95.
        for (i, deg) in [0f32, 60.0, 10.0, 90.0, 20.0, 95.0].iter().enumerate() {
            let r = deg.to_radians();
            ix.insert(Entry { path: format!("{i}"), size: 0, modified: 0.0 }, &[r.cos(), r.sin()])
                .unwrap();
        }
        assert_eq!(ix.duplicates(0.98).unwrap(), vec![vec![0, 2, 4], vec![3, 5]]);
        assert_eq!(ix.duplicates(0.999).unwrap(), Vec::<Vec<usize>>::new());
        assert!(ix.duplicates(0.0).is_err() && ix.duplicates(f32::NAN).is_err());
    }
}
