//! [`IndexMap`]: where each stored weight of the new pattern came from.

use serde::{Deserialize, Serialize};

use crate::error::{PruneError, Result};

/// The correspondence between the values of a layer before and after a pattern update.
///
/// `source(p)` is the old CSR position of new position `p`, or `None` when the weight was grown.
/// Anything stored per value (the values themselves, optimizer moments, running statistics) is
/// carried over with [`apply`](Self::apply): survivors keep their entry, grown positions get the
/// fill value.
///
/// Invariants (always checked by [`IndexMap::try_new`]): every source is `< old_len` and no old
/// position is the source of two new positions.
///
/// ```
/// use sparsekit_prune::dst::IndexMap;
/// // Old values [a, b, c]; b was dropped, a weight grown between a and c.
/// let map = IndexMap::try_new(3, vec![Some(0), None, Some(2)])?;
/// assert_eq!(map.apply(&[1.0, 2.0, 3.0], 0.0)?, vec![1.0, 0.0, 3.0]);
/// assert_eq!(map.grown(), 1);
/// assert_eq!(map.dropped(), vec![1]);
/// # Ok::<(), sparsekit_prune::PruneError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexMap {
    old_len: usize,
    source: Vec<Option<u32>>,
}

impl IndexMap {
    /// A map from `old_len` old positions, one `Option<old position>` per new position.
    pub fn try_new(old_len: usize, source: Vec<Option<u32>>) -> Result<Self> {
        let mut seen = vec![false; old_len];
        for &s in source.iter().flatten() {
            let s = s as usize;
            if s >= old_len {
                return Err(PruneError::InvalidArgument(format!(
                    "index map source {s} out of range (old length {old_len})"
                )));
            }
            if std::mem::replace(&mut seen[s], true) {
                return Err(PruneError::InvalidArgument(format!(
                    "index map uses old position {s} twice"
                )));
            }
        }
        Ok(IndexMap { old_len, source })
    }

    /// The map of an unchanged pattern with `len` entries.
    pub fn identity(len: usize) -> Self {
        IndexMap {
            old_len: len,
            source: (0..len as u32).map(Some).collect(),
        }
    }

    /// Number of values before the update.
    pub fn old_len(&self) -> usize {
        self.old_len
    }

    /// Number of values after the update.
    pub fn new_len(&self) -> usize {
        self.source.len()
    }

    /// The old position of each new position (`None` = grown).
    pub fn sources(&self) -> &[Option<u32>] {
        &self.source
    }

    /// Whether nothing moved.
    pub fn is_identity(&self) -> bool {
        self.old_len == self.source.len()
            && self
                .source
                .iter()
                .enumerate()
                .all(|(p, s)| *s == Some(p as u32))
    }

    /// Number of grown (new) positions.
    pub fn grown(&self) -> usize {
        self.source.iter().filter(|s| s.is_none()).count()
    }

    /// Old positions that did not survive, ascending.
    pub fn dropped(&self) -> Vec<usize> {
        let mut kept = vec![false; self.old_len];
        for &s in self.source.iter().flatten() {
            kept[s as usize] = true;
        }
        (0..self.old_len).filter(|&p| !kept[p]).collect()
    }

    /// Carries per-value data over: `out[p] = old[source(p)]`, or `fill` for grown positions.
    ///
    /// Returns [`PruneError::Shape`] when `old.len() != old_len`.
    pub fn apply<T: Copy>(&self, old: &[T], fill: T) -> Result<Vec<T>> {
        if old.len() != self.old_len {
            return Err(PruneError::Shape(format!(
                "index map expects {} old values, got {}",
                self.old_len,
                old.len()
            )));
        }
        Ok(self
            .source
            .iter()
            .map(|s| s.map_or(fill, |s| old[s as usize]))
            .collect())
    }
}
