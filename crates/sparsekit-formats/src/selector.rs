//! [`Selector`]: which named tensors a path pattern selects — the one rule for every crate that
//! picks parameters or checkpoint tensors by name (regularizers, pruners, the CLI).
//!
//! A parameter's *path* is the chain of field names (and `Vec`/array indices) that leads to it,
//! joined by `.`, as burn's `ModuleVisitor::enter_module` reports them (and as safetensors checkpoints name them): `l1.weight`,
//! `blocks.0.linear.bias`, `g1.log_alpha`.
//!
//! # Pattern syntax
//!
//! A pattern is a `|`-separated list of alternatives; a path is selected when any alternative
//! matches it. Each alternative is a `.`-separated list of segments, matched segment by segment:
//!
//! - `**` matches any number (zero or more) of whole segments;
//! - any other segment is a glob within one segment: `*` matches any run of characters (never a
//!   `.`), `?` matches exactly one character, everything else matches itself.
//!
//! So `*.weight` matches `l1.weight` but not `mlp.l1.weight`; `**.weight` matches both;
//! `mlp.*.weight` matches `mlp.l1.weight`; `l?.weight|head.*` matches `l1.weight` and
//! `head.bias`. `**` alone selects every float parameter.

use crate::error::{FormatError, Result};

fn bad(pattern: &str) -> FormatError {
    FormatError::InvalidArgument(format!(
        "invalid path pattern {pattern:?}: empty alternative or empty segment"
    ))
}

/// A compiled path pattern (see the [module docs](self) for the syntax).
///
/// ```
/// use sparsekit_formats::Selector;
/// let s = Selector::new("mlp.*.weight|**.log_alpha").unwrap();
/// assert!(s.matches("mlp.l1.weight"));
/// assert!(s.matches("gates.g1.log_alpha"));
/// assert!(!s.matches("mlp.l1.bias"));
/// assert!(Selector::new("a..b").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pattern: String,
    alternatives: Vec<Vec<String>>,
}

impl Selector {
    /// Parses a pattern; errors on an empty pattern or an empty segment.
    pub fn new(pattern: &str) -> Result<Self> {
        let mut alternatives = Vec::new();
        for alt in pattern.split('|') {
            let alt = alt.trim();
            if alt.is_empty() {
                return Err(bad(pattern));
            }
            let segs: Vec<String> = alt.split('.').map(str::to_string).collect();
            if segs.iter().any(|s| s.is_empty()) {
                return Err(bad(pattern));
            }
            alternatives.push(segs);
        }
        Ok(Self {
            pattern: pattern.to_string(),
            alternatives,
        })
    }

    /// Every path (`**`).
    pub fn all() -> Self {
        Self {
            pattern: "**".into(),
            alternatives: vec![vec!["**".into()]],
        }
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether `path` (segments joined by `.`) is selected.
    pub fn matches(&self, path: &str) -> bool {
        let segs: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('.').collect()
        };
        self.alternatives.iter().any(|alt| match_segs(alt, &segs))
    }
}

fn match_segs(pat: &[String], path: &[&str]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| match_segs(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, prest)) => glob(first.as_bytes(), p.as_bytes()) && match_segs(rest, prest),
            None => false,
        },
    }
}

/// `*` and `?` within one segment.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|k| glob(rest, &s[k..])),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        let s = Selector::new("*.weight").unwrap();
        assert!(s.matches("l1.weight"));
        assert!(!s.matches("weight"));
        assert!(!s.matches("a.l1.weight"));
        let s = Selector::new("**.weight").unwrap();
        assert!(s.matches("weight") && s.matches("a.b.c.weight"));
        let s = Selector::new("l*1.w?ight").unwrap();
        assert!(s.matches("l1.weight") && s.matches("layer1.wright"));
        assert!(!s.matches("l2.weight"));
        assert!(Selector::new("").is_err());
        assert!(Selector::new("a|").is_err());
        assert!(Selector::new(".a").is_err());
        assert!(Selector::all().matches("x.y"));
    }
}
