//! Section labels for classification: the sections with enough training records, numbered.

use std::collections::{BTreeMap, HashMap};

use super::{Record, Split};

/// The label table of a section-classification task on the corpus: the `top` most frequent
/// sections of the **train** split (ties broken by section name, so the table does not depend
/// on record order), each with at least `min_train` train records. Label `i` is
/// [`names`](Self::names)`()[i]`; labels are numbered by decreasing train frequency. Records of
/// the other sections are dropped from the task ([`label_of`](Self::label_of) is `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionLabels {
    names: Vec<String>,
    train_counts: Vec<usize>,
    index: HashMap<String, usize>,
}

impl SectionLabels {
    /// The table of at most `top` sections with at least `min_train` train records each.
    ///
    /// ```
    /// use sparsekit_data::debian::{Record, SectionLabels, Split};
    /// let r = |p: &str, s: &str| Record {
    ///     package: p.into(), section: s.into(), synopsis: "s".into(),
    ///     description: "d".into(), split: Split::Train,
    /// };
    /// let rs = [r("a", "net"), r("b", "libs"), r("c", "net"), r("d", "doc")];
    /// let labels = SectionLabels::top(&rs, 2, 1);
    /// assert_eq!(labels.names(), ["net", "doc"]); // 2 × net; doc < libs by name
    /// assert_eq!(labels.label_of(&rs[1]), None);
    /// ```
    pub fn top(records: &[Record], top: usize, min_train: usize) -> Self {
        let mut counts = BTreeMap::<&str, usize>::new();
        for r in records.iter().filter(|r| r.split == Split::Train) {
            *counts.entry(r.section.as_str()).or_default() += 1;
        }
        let mut ranked: Vec<(&str, usize)> = counts
            .into_iter()
            .filter(|&(_, c)| c >= min_train.max(1))
            .collect();
        // Stable sort over name-ordered entries: count descending, then name ascending.
        ranked.sort_by_key(|&(_, c)| std::cmp::Reverse(c));
        ranked.truncate(top);
        let names: Vec<String> = ranked.iter().map(|(s, _)| s.to_string()).collect();
        let index = names
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect();
        SectionLabels {
            train_counts: ranked.iter().map(|&(_, c)| c).collect(),
            names,
            index,
        }
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no section qualified.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The sections, label `i` at index `i`.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Train records per label.
    pub fn train_counts(&self) -> &[usize] {
        &self.train_counts
    }

    /// The label of `section`, `None` when it is not in the table.
    pub fn label(&self, section: &str) -> Option<usize> {
        self.index.get(section).copied()
    }

    /// The label of a record's section.
    pub fn label_of(&self, record: &Record) -> Option<usize> {
        self.label(&record.section)
    }

    /// The records of `split` whose section is in the table, with their labels, in corpus
    /// order.
    pub fn select<'a>(&self, records: &'a [Record], split: Split) -> Vec<(&'a Record, usize)> {
        records
            .iter()
            .filter(|r| r.split == split)
            .filter_map(|r| self.label_of(r).map(|l| (r, l)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(p: &str, s: &str, split: Split) -> Record {
        Record {
            package: p.into(),
            section: s.into(),
            synopsis: "s".into(),
            description: "d".into(),
            split,
        }
    }

    #[test]
    fn ranks_by_train_count_then_name_and_ignores_order() {
        let mut rs = vec![
            rec("a", "net", Split::Train),
            rec("b", "libs", Split::Train),
            rec("c", "net", Split::Train),
            rec("d", "doc", Split::Train),
            rec("e", "doc", Split::Train),
            rec("f", "x11", Split::Test),
            rec("g", "x11", Split::Test),
            rec("h", "x11", Split::Test),
            rec("i", "games", Split::Valid),
        ];
        let l = SectionLabels::top(&rs, 10, 1);
        assert_eq!(l.names(), ["doc", "net", "libs"]);
        assert_eq!(l.train_counts(), [2, 2, 1]);
        assert_eq!(l.label("net"), Some(1));
        assert_eq!(l.label("x11"), None, "test-only sections are not labels");
        rs.reverse();
        assert_eq!(SectionLabels::top(&rs, 10, 1), l);
    }

    #[test]
    fn min_count_top_and_select() {
        let rs = vec![
            rec("a", "net", Split::Train),
            rec("b", "libs", Split::Train),
            rec("c", "net", Split::Train),
            rec("d", "net", Split::Test),
            rec("e", "libs", Split::Test),
            rec("f", "doc", Split::Test),
        ];
        let l = SectionLabels::top(&rs, 10, 2);
        assert_eq!(l.names(), ["net"]);
        let test = l.select(&rs, Split::Test);
        assert_eq!(test.len(), 1);
        assert_eq!((test[0].0.package.as_str(), test[0].1), ("d", 0));
        assert!(SectionLabels::top(&rs, 0, 1).is_empty());
        assert_eq!(SectionLabels::top(&rs, 1, 0).names(), ["net"]);
        assert!(SectionLabels::top(&[], 5, 1).is_empty());
    }
}
