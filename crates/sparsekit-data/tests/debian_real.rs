//! The real corpus from this machine's apt lists (runs `apt-get -o Acquire::Languages=en update`
//! when root and the English lists are missing). Skipped, or failing under
//! `SPARSEKIT_REQUIRE_ENV` / CI, when apt lists cannot be had.

use std::collections::HashSet;
use std::time::Instant;

use sparsekit_data::debian::{self, Split};
use sparsekit_data::DataError;

#[test]
fn real_corpus_from_apt_lists() {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let report = match debian::fetch(dir.path()) {
        Ok(r) => r,
        Err(DataError::Missing(how)) => {
            sparsekit_testenv::unavailable("Debian apt lists with English descriptions", &how);
            return;
        }
        Err(e) => panic!("fetch failed: {e}"),
    };
    let secs = t.elapsed().as_secs_f64();
    eprintln!("{report} in {secs:.1} s");
    assert!(!report.skipped_existing);
    let records = debian::read_corpus(&report.path).unwrap();
    assert_eq!(records.len(), report.records);
    assert!(report.records > 40_000, "{report}");
    assert!(report.sections > 30, "{report}");
    for s in Split::ALL {
        assert!(records.iter().any(|r| r.split == s), "no {s} record");
    }
    let mut descriptions = HashSet::new();
    let mut names = HashSet::new();
    for r in &records {
        assert!(
            descriptions.insert(r.description.as_str()),
            "duplicate: {}",
            r.package
        );
        assert!(
            names.insert(r.package.as_str()),
            "duplicate package {}",
            r.package
        );
        assert!(!r.description.trim().is_empty() && !r.section.is_empty());
        assert!(!r.section.contains('/'));
        assert_eq!(r.split, debian::split_of(&r.package));
    }
    assert!(records.windows(2).all(|w| w[0].package < w[1].package));

    // Idempotent.
    let again = debian::fetch(dir.path()).unwrap();
    assert!(again.skipped_existing);
    assert_eq!(again.records, report.records);
    assert_eq!(again.per_split, report.per_split);
}
