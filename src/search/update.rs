//! Re-indexing a folder that changed: which of its files need embedding (new,
//! or of another size or modification time), how many stay as they are, and
//! which indexed pictures are gone from it.

use super::{Entry, SearchIndex};

/// A file as the folder lists it now.
pub type Listed = Entry;

/// What re-indexing a folder's listing takes.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// Positions in the listing of the files to embed.
    pub embed: Vec<usize>,
    /// Indexed pictures whose file is unchanged.
    pub kept: usize,
    /// Indexed paths the listing no longer has.
    pub dropped: Vec<String>,
}

impl SearchIndex {
    /// Compares the folder's `listing` with the index.
    pub fn update_for(&self, listing: &[Listed]) -> Update {
        let indexed: std::collections::HashMap<&str, &Entry> =
            self.entries().iter().map(|e| (e.path.as_str(), e)).collect();
        let mut embed = Vec::new();
        let mut kept = 0;
        for (i, file) in listing.iter().enumerate() {
            match indexed.get(file.path.as_str()) {
                Some(e) if e.size == file.size && e.modified == file.modified => kept += 1,
                _ => embed.push(i),
            }
        }
        let listed: std::collections::HashSet<&str> =
            listing.iter().map(|f| f.path.as_str()).collect();
        let dropped = self
            .entries()
            .iter()
            .filter(|e| !listed.contains(e.path.as_str()))
            .map(|e| e.path.clone())
            .collect();
        Update { embed, kept, dropped }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_index;
    use super::*;

    #[test]
    fn only_new_and_changed_files_are_embedded() {
        let mut ix = test_index(2);
        let e = |p: &str, size, modified| Entry { path: p.into(), size, modified };
        for entry in [e("a.png", 10, 1.0), e("b.png", 20, 2.0), e("c.png", 30, 3.0)] {
            ix.insert(entry, &[1.0, 0.0]).unwrap();
        }
        // a unchanged, b touched, c deleted, d new.
        let listing = [e("a.png", 10, 1.0), e("b.png", 20, 5.0), e("d.png", 1, 1.0)];
        assert_eq!(
            ix.update_for(&listing),
            Update { embed: vec![1, 2], kept: 1, dropped: vec!["c.png".into()] }
        );
    }
}
