//! Ranking: the pictures nearest a query, best first. A query is words, an
//! example picture, or both: each part at unit length, summed and renormalised,
//! so words and example weigh the same. Scores are cosines.

use crate::error::{Error, Result};
use crate::model::scores::unit_length;

use super::SearchIndex;

/// Most results one query returns.
pub const MAX_TOP: usize = 10_000;

/// One result: a picture's position in the index and its cosine with the query.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    pub index: usize,
    pub score: f32,
}

/// The query vector for these parts (text and example embeddings, any length).
pub fn combine(parts: &[&[f32]]) -> Result<Vec<f32>> {
    let Some(first) = parts.first() else {
        return Err(Error::Input("a search needs words, an example picture or both".into()));
    };
    let mut sum = vec![0f32; first.len()];
    for part in parts {
        if part.len() != sum.len() {
            return Err(Error::Input(format!(
                "query parts of {} and {} values",
                sum.len(),
                part.len()
            )));
        }
        for (s, v) in sum.iter_mut().zip(unit_length(part)) {
            *s += v;
        }
    }
    if sum.iter().any(|v| !v.is_finite()) || sum.iter().all(|&v| v == 0.0) {
        return Err(Error::Input("the query's parts cancel out or are not finite".into()));
    }
    Ok(unit_length(&sum))
}

/// Folder filter: `""` is the whole index, `"a/b"` what lies under `a/b/`.
fn under(path: &str, folder: &str) -> bool {
    let folder = folder.trim_matches('/');
    folder.is_empty() || path.strip_prefix(folder).is_some_and(|rest| rest.starts_with('/'))
}

impl SearchIndex {
    /// The `top` pictures under `folder` nearest `query` (unit length, `dim` values).
    pub fn rank(&self, query: &[f32], top: usize, folder: &str) -> Result<Vec<Hit>> {
        if query.len() != self.dim() {
            return Err(Error::Input(format!(
                "a query of {} values, the index holds {}",
                query.len(),
                self.dim()
            )));
        }
        if top == 0 || top > MAX_TOP {
            return Err(Error::Input(format!("{top} results asked for (1 to {MAX_TOP})")));
        }
        let scores = self.codes.scores(query);
        let mut hits: Vec<Hit> = scores
            .into_iter()
            .enumerate()
            .filter(|(i, _)| under(&self.entries[*i].path, folder))
            .map(|(index, score)| Hit { index, score })
            .collect();
        let best_first = |a: &Hit, b: &Hit| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index));
        if hits.len() > top {
            hits.select_nth_unstable_by(top - 1, best_first);
            hits.truncate(top);
        }
        hits.sort_by(best_first);
        Ok(hits)
    }

    /// The subfolders pictures lie in (`""` for the top), sorted.
    pub fn folders(&self) -> Vec<String> {
        let mut folders: Vec<String> = self
            .entries
            .iter()
            .map(|e| e.path.rsplit_once('/').map_or("", |(dir, _)| dir).to_string())
            .collect();
        folders.sort();
        folders.dedup();
        folders
    }
}

#[cfg(test)]
mod tests {
    use super::super::{test_index, Entry};
    use super::*;

    fn index(rows: &[(&str, [f32; 3])]) -> SearchIndex {
        let mut ix = test_index(3);
        for (path, v) in rows {
            ix.insert(Entry { path: path.to_string(), size: 1, modified: 0.0 }, v).unwrap();
        }
        ix
    }

    #[test]
    fn ranks_by_cosine_within_a_folder() {
        let ix = index(&[
            ("a/x.png", [1.0, 0.0, 0.0]),
            ("a/y.png", [0.6, 0.8, 0.0]),
            ("ab/z.png", [1.0, 0.1, 0.0]),
            ("w.png", [0.0, 0.0, 1.0]),
        ]);
        let q = combine(&[&[2.0, 0.0, 0.0]]).unwrap();
        let all: Vec<usize> = ix.rank(&q, 3, "").unwrap().iter().map(|h| h.index).collect();
        assert_eq!(all, vec![0, 2, 1]);
        // Cosines by hand: 1, 1/sqrt(1.01), 0.6 (int8 keeps them to about 1/127 of a step).
        let hits = ix.rank(&q, 4, "a").unwrap();
        assert_eq!(hits.iter().map(|h| h.index).collect::<Vec<_>>(), vec![0, 1]);
        assert!((hits[1].score - 0.6).abs() < 0.01, "{hits:?}");
        assert_eq!(ix.folders(), vec!["", "a", "ab"]);
        assert!(ix.rank(&q, 0, "").is_err() && ix.rank(&[1.0], 1, "").is_err());
    }

    #[test]
    fn words_and_example_weigh_the_same() {
        let q = combine(&[&[3.0, 0.0, 0.0], &[0.0, 0.5, 0.0]]).unwrap();
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!(q.iter().zip([h, h, 0.0]).all(|(a, b)| (a - b).abs() < 1e-6), "{q:?}");
        assert!(combine(&[]).is_err());
        assert!(combine(&[&[1.0, 0.0, 0.0], &[-1.0, 0.0, 0.0]]).is_err());
    }
}
