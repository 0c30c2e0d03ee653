//! Debian's English package descriptions as a labelled text corpus.
//!
//! # Source
//!
//! apt's own list files under `/var/lib/apt/lists/`: the `Translation-en` lists (fetched by
//! `apt-get -o Acquire::Languages=en update`) hold every package's English description, and the
//! `Packages` lists hold each package's `Section`. They may be stored compressed in any format
//! apt was configured for (lz4, gz, xz, zstd, …), so no decompressor is linked here: the lists
//! are enumerated with
//! `apt-get -o Acquire::Languages=en indextargets --format '$(FILENAME)' 'Identifier: Translations'`
//! (and `'Identifier: Packages'`) and each one is read through
//! `/usr/lib/apt/apt-helper cat-file FILE`, which decompresses whatever apt wrote. (Docker images
//! of Debian set `Acquire::Languages "none"`; `-o Acquire::Languages=en` puts `en` first in that
//! list, which is enough for both `update` and `indextargets`.)
//!
//! # Corpus
//!
//! - Translation paragraphs (`Package`, `Description-md5`, `Description-en`) give the synopsis
//!   (first line of `Description-en`) and the long description (its continuation lines: the
//!   leading single space removed, a ` .` line becomes an empty line, lines joined with `\n`).
//! - Packages paragraphs give `Section`, normalized to the part after the last `/`
//!   (`contrib/net` → `net`, `non-free/libs` → `libs`).
//! - The two are joined on the package name. When a package has several translations (several
//!   description versions), [`fetch`] keeps those whose `Description-md5` appears in a `Packages`
//!   list; [`build_corpus`] then keeps, per package, the entry with the smallest
//!   (description, synopsis) — deterministic whatever the input order.
//! - A package without a section, or with an empty long description, is dropped.
//! - De-duplication on the long description: of the packages sharing one description, only the
//!   lexicographically smallest package name is kept.
//! - Records are sorted by package name.
//!
//! # Split rule (reproducible elsewhere)
//!
//! `h = SHA-256(package name as UTF-8)`; `v = u64::from_be_bytes(h[0..8]) % 100`;
//! `v < 80` → `train`, `v < 90` → `valid`, else `test`. In Python:
//!
//! ```text
//! v = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % 100
//! split = "train" if v < 80 else "valid" if v < 90 else "test"
//! ```
//!
//! # File
//!
//! `descriptions.jsonl` in [`default_dir`] (or the directory given to [`fetch`]): one JSON
//! object per line, `{"package","section","synopsis","description","split"}`, written
//! atomically (temporary file + rename).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::DataError;

mod labels;
pub use labels::SectionLabels;

/// The file name of the corpus inside its directory.
pub const FILE_NAME: &str = "descriptions.jsonl";

/// The command that fetches the English translation lists (as root).
pub const UPDATE_COMMAND: &str = "apt-get -o Acquire::Languages=en update";

/// Which part of the corpus a record belongs to; see the module doc for the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// About 80 % of the packages.
    Train,
    /// About 10 %.
    Valid,
    /// About 10 %.
    Test,
}

impl Split {
    /// All three, in order.
    pub const ALL: [Split; 3] = [Split::Train, Split::Valid, Split::Test];

    /// `"train"`, `"valid"` or `"test"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Valid => "valid",
            Split::Test => "test",
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Split {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "train" => Ok(Split::Train),
            "valid" => Ok(Split::Valid),
            "test" => Ok(Split::Test),
            other => Err(DataError::Invalid(format!(
                "unknown split {other:?} (expected train, valid or test)"
            ))),
        }
    }
}

/// The split of a package: SHA-256 of its name, first 8 bytes as a big-endian `u64`, mod 100:
/// `< 80` train, `< 90` valid, else test.
pub fn split_of(package: &str) -> Split {
    let h = Sha256::digest(package.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    match u64::from_be_bytes(b) % 100 {
        0..=79 => Split::Train,
        80..=89 => Split::Valid,
        _ => Split::Test,
    }
}

/// One package of the corpus (one line of `descriptions.jsonl`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The package name (unique in the corpus).
    pub package: String,
    /// Its section, without an archive-area prefix (`net`, not `contrib/net`): the label.
    pub section: String,
    /// The one-line synopsis (first line of `Description-en`).
    pub synopsis: String,
    /// The long description as plain text (paragraphs separated by an empty line).
    pub description: String,
    /// Train / valid / test, from [`split_of`].
    pub split: Split,
}

impl Record {
    /// The long description on one line (every run of whitespace, newlines included, folded to
    /// one space): what a text file of one text per line holds, and how the tools feed
    /// descriptions to a model (calibration, activation capture, the model bench).
    ///
    /// ```
    /// use sparsekit_data::debian::{Record, Split};
    /// let r = Record {
    ///     package: "p".into(), section: "net".into(), synopsis: "s".into(),
    ///     description: "Two  words\n\nand more.".into(), split: Split::Test,
    /// };
    /// assert_eq!(r.one_line_description(), "Two words and more.");
    /// ```
    pub fn one_line_description(&self) -> String {
        self.description
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One paragraph of a `Translation-*` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// `Package`.
    pub package: String,
    /// `Description-md5` (empty when the paragraph has none).
    pub md5: String,
    /// First line of `Description-en`.
    pub synopsis: String,
    /// The continuation lines of `Description-en`, as plain text.
    pub description: String,
}

/// Counts per split.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SplitCounts {
    /// Records in `train`.
    pub train: usize,
    /// Records in `valid`.
    pub valid: usize,
    /// Records in `test`.
    pub test: usize,
}

impl SplitCounts {
    /// Counts the splits of `records`.
    pub fn of(records: &[Record]) -> Self {
        let mut c = SplitCounts::default();
        for r in records {
            match r.split {
                Split::Train => c.train += 1,
                Split::Valid => c.valid += 1,
                Split::Test => c.test += 1,
            }
        }
        c
    }
}

/// What [`fetch`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FetchReport {
    /// The corpus file.
    pub path: PathBuf,
    /// Number of records.
    pub records: usize,
    /// Records per split.
    pub per_split: SplitCounts,
    /// Number of distinct sections.
    pub sections: usize,
    /// True when a valid corpus was already there and nothing was done.
    pub skipped_existing: bool,
}

impl fmt::Display for FetchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} records ({} train, {} valid, {} test), {} sections{}",
            self.path.display(),
            self.records,
            self.per_split.train,
            self.per_split.valid,
            self.per_split.test,
            self.sections,
            if self.skipped_existing {
                " (already there)"
            } else {
                ""
            }
        )
    }
}

/// `$SPARSEKIT_DEBIAN_TEXT` when set, else [`fetch::cache_dir`](crate::fetch::cache_dir)`/data/debian-text`
/// (`~/.cache/sparsekit/data/debian-text`). `sparsekit-testenv` copies this rule;
/// `tests/testenv_paths.rs` checks that the two agree.
pub fn default_dir() -> PathBuf {
    match std::env::var_os("SPARSEKIT_DEBIAN_TEXT") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => crate::fetch::cache_dir().join("data").join("debian-text"),
    }
}

// ---------------------------------------------------------------------------------------------
// deb822

/// One field of a deb822 paragraph: name, the value on its first line, continuation lines.
struct Field<'a> {
    name: &'a str,
    value: &'a str,
    continuation: Vec<&'a str>,
}

/// Splits deb822 text into paragraphs of fields. `on_error(line, message)` is called for a
/// line that is neither a field nor a continuation; the line is skipped when it returns `Ok`.
/// Each paragraph comes with the 1-based line number of its first line.
fn paragraphs<'a>(
    text: &'a str,
    mut on_error: impl FnMut(usize, String) -> Result<(), DataError>,
) -> Result<Vec<(usize, Vec<Field<'a>>)>, DataError> {
    let mut out = Vec::new();
    let mut cur: Vec<Field<'a>> = Vec::new();
    let mut start = 0usize;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push((start, std::mem::take(&mut cur)));
            }
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            match cur.last_mut() {
                Some(f) => f.continuation.push(line),
                None => on_error(i + 1, "continuation line outside a field".into())?,
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.is_empty() && !name.contains(char::is_whitespace) => {
                if cur.is_empty() {
                    start = i + 1;
                }
                cur.push(Field {
                    name,
                    value: value.trim(),
                    continuation: Vec::new(),
                })
            }
            _ => on_error(i + 1, format!("not a `Field: value` line: {line:?}"))?,
        }
    }
    if !cur.is_empty() {
        out.push((start, cur));
    }
    Ok(out)
}

fn field<'p, 'a>(para: &'p [Field<'a>], name: &str) -> Option<&'p Field<'a>> {
    para.iter().find(|f| f.name.eq_ignore_ascii_case(name))
}

/// The long description from continuation lines: the leading space (or tab) removed, a `.`
/// line becomes empty, trailing whitespace dropped, leading/trailing empty lines dropped.
fn long_description(lines: &[&str]) -> String {
    let body: Vec<&str> = lines
        .iter()
        .map(|l| {
            let l = &l[1..];
            if l.trim() == "." {
                ""
            } else {
                l.trim_end()
            }
        })
        .collect();
    let start = body
        .iter()
        .position(|l| !l.is_empty())
        .unwrap_or(body.len());
    let end = body
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(start, |e| e + 1);
    body[start..end].join("\n")
}

/// Parses a `Translation-*` list. Every paragraph must have `Package` and `Description-en`
/// (or another `Description-xx`); a malformed line or paragraph is a [`DataError::Malformed`]
/// (path `<translations>`) with its line number.
pub fn parse_translations(text: &str) -> Result<Vec<Translation>, DataError> {
    let err = |line: usize, message: String| DataError::Malformed {
        path: PathBuf::from("<translations>"),
        line,
        message,
    };
    let paras = paragraphs(text, |line, m| Err(err(line, m)))?;
    let mut out = Vec::with_capacity(paras.len());
    for (n, (first, p)) in paras.iter().enumerate() {
        let first = *first;
        let package = field(p, "Package")
            .map(|f| f.value)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| err(first, format!("paragraph {} has no Package", n + 1)))?;
        let desc = field(p, "Description-en")
            .or_else(|| {
                p.iter().find(|f| {
                    f.name.len() > 12
                        && f.name[..12].eq_ignore_ascii_case("Description-")
                        && !f.name.eq_ignore_ascii_case("Description-md5")
                })
            })
            .ok_or_else(|| err(first, format!("package {package} has no Description-en")))?;
        out.push(Translation {
            package: package.to_string(),
            md5: field(p, "Description-md5")
                .map(|f| f.value.to_string())
                .unwrap_or_default(),
            synopsis: desc.value.to_string(),
            description: long_description(&desc.continuation),
        });
    }
    Ok(out)
}

/// One paragraph of a `Packages` list, as far as the corpus needs it.
struct PackageEntry<'a> {
    package: &'a str,
    section: Option<&'a str>,
    md5: Option<&'a str>,
}

fn parse_packages(text: &str) -> Vec<PackageEntry<'_>> {
    // Lenient: a Packages list is apt's own output; an odd line is skipped.
    let paras = paragraphs(text, |_, _| Ok(())).unwrap_or_default();
    paras
        .iter()
        .filter_map(|(_, p)| {
            let package = field(p, "Package")
                .map(|f| f.value)
                .filter(|v| !v.is_empty())?;
            Some(PackageEntry {
                package,
                section: field(p, "Section")
                    .map(|f| f.value)
                    .filter(|v| !v.is_empty()),
                md5: field(p, "Description-md5")
                    .map(|f| f.value)
                    .filter(|v| !v.is_empty()),
            })
        })
        .collect()
}

/// `contrib/net` → `net`.
fn normalize_section(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s).trim()
}

/// Package → section (normalized: the part after the last `/`) from a `Packages` list.
/// Paragraphs without `Package` or `Section` are skipped; when a package appears twice the
/// first section is kept.
pub fn parse_sections(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for e in parse_packages(text) {
        if let Some(s) = e.section.map(normalize_section).filter(|s| !s.is_empty()) {
            out.entry(e.package.to_string())
                .or_insert_with(|| s.to_string());
        }
    }
    out
}

/// Joins translations with sections into the sorted, de-duplicated corpus (rules in the module
/// doc): one record per package (the smallest (description, synopsis) when a package has
/// several), no package without a section, no empty description, one package per description
/// (the smallest name), sorted by package name.
pub fn build_corpus(
    translations: &[Translation],
    sections: &HashMap<String, String>,
) -> Vec<Record> {
    // Per package, the smallest (description, synopsis).
    let mut per_package: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for t in translations {
        if t.description.trim().is_empty() || !sections.contains_key(&t.package) {
            continue;
        }
        let cand = (t.description.as_str(), t.synopsis.as_str());
        per_package
            .entry(t.package.as_str())
            .and_modify(|cur| {
                if cand < *cur {
                    *cur = cand
                }
            })
            .or_insert(cand);
    }
    // Iterating in package order: the first package seen with a description is the smallest.
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for (package, (description, synopsis)) in per_package {
        if !seen.insert(description) {
            continue;
        }
        out.push(Record {
            package: package.to_string(),
            section: sections[package].clone(),
            synopsis: synopsis.to_string(),
            description: description.to_string(),
            split: split_of(package),
        });
    }
    out
}

/// Reads a corpus file; a line that is not a [`Record`] is a [`DataError::Malformed`] with its
/// 1-based line number. Empty lines are skipped.
pub fn read_corpus(path: &Path) -> Result<Vec<Record>, DataError> {
    let f = std::fs::File::open(path)
        .map_err(|e| DataError::io(format!("opening {}", path.display()), e))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| DataError::io(format!("reading {}", path.display()), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let r: Record = serde_json::from_str(&line).map_err(|e| DataError::Malformed {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push(r);
    }
    Ok(out)
}

/// Writes `records` as JSON lines, atomically: a temporary file beside `path`, then a rename.
pub fn write_corpus(path: &Path, records: &[Record]) -> Result<(), DataError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| DataError::io(format!("creating {}", parent.display()), e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let write = || -> std::io::Result<()> {
        let mut w = BufWriter::new(std::fs::File::create(&tmp)?);
        for r in records {
            serde_json::to_writer(&mut w, r)?;
            w.write_all(b"\n")?;
        }
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(DataError::io(format!("writing {}", tmp.display()), e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        DataError::io(
            format!("renaming {} to {}", tmp.display(), path.display()),
            e,
        )
    })
}

// ---------------------------------------------------------------------------------------------
// apt

fn report(path: PathBuf, records: &[Record], skipped_existing: bool) -> FetchReport {
    FetchReport {
        path,
        records: records.len(),
        per_split: SplitCounts::of(records),
        sections: records
            .iter()
            .map(|r| r.section.as_str())
            .collect::<BTreeSet<_>>()
            .len(),
        skipped_existing,
    }
}

fn run_output(program: &str, args: &[&str]) -> Result<String, DataError> {
    let command = std::iter::once(program)
        .chain(args.iter().copied())
        .map(|a| {
            if a.contains([' ', '$', '(']) {
                format!("'{a}'")
            } else {
                a.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| DataError::io(format!("running {command}"), e))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: String = err.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        return Err(DataError::Command {
            command,
            message: format!("{}: {tail}", out.status),
        });
    }
    String::from_utf8(out.stdout).map_err(|e| DataError::Command {
        command,
        message: format!("output is not UTF-8: {e}"),
    })
}

/// The existing list files of an index target (`Translations` limited to English).
fn list_files(identifier: &str) -> Result<Vec<PathBuf>, DataError> {
    let filter = format!("Identifier: {identifier}");
    let text = run_output(
        "apt-get",
        &[
            "-o",
            "Acquire::Languages=en",
            "indextargets",
            "--format",
            "$(LANGUAGE) $(FILENAME)",
            &filter,
        ],
    )?;
    let mut files: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| {
            let (lang, file) = l.trim().split_once(' ')?;
            // `$(LANGUAGE)` is left as is for targets without a language.
            let english = identifier != "Translations" || lang == "en";
            english.then(|| PathBuf::from(file.trim()))
        })
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

fn cat_file(path: &Path) -> Result<String, DataError> {
    let p = path.to_string_lossy();
    run_output("/usr/lib/apt/apt-helper", &["cat-file", &p])
}

fn is_root() -> bool {
    // No libc: the real uid is the first number of the `Uid:` line of /proc/self/status.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next().map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn apt_available() -> bool {
    Command::new("apt-get")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
        && Path::new("/usr/lib/apt/apt-helper").exists()
}

/// Builds `dir/descriptions.jsonl` from this machine's apt lists (see the module doc).
///
/// Idempotent: when the file is already there and reads as a non-empty corpus, nothing is done
/// (`skipped_existing`). When the English translation lists are absent, a root process runs
/// `apt-get -o Acquire::Languages=en update` itself (saying so on stderr); otherwise the
/// [`DataError::Missing`] message is exactly the command to run
/// (`sudo apt-get -o Acquire::Languages=en update`). Without apt (not Debian/Ubuntu), a
/// [`DataError::Missing`] says so.
pub fn fetch(dir: &Path) -> Result<FetchReport, DataError> {
    let path = dir.join(FILE_NAME);
    if path.is_file() {
        if let Ok(records) = read_corpus(&path) {
            if !records.is_empty() {
                return Ok(report(path, &records, true));
            }
        }
    }
    if !apt_available() {
        return Err(DataError::Missing(
            "the Debian description corpus needs a Debian/Ubuntu machine's apt lists \
             (apt-get and /usr/lib/apt/apt-helper were not found)"
                .into(),
        ));
    }
    let mut translations = list_files("Translations")?;
    if translations.is_empty() {
        if !is_root() {
            return Err(DataError::Missing(format!("sudo {UPDATE_COMMAND}")));
        }
        let _ = writeln!(
            std::io::stderr(),
            "sparsekit-data: no English translation lists; running `{UPDATE_COMMAND}`"
        );
        let status = Command::new("apt-get")
            .args(["-o", "Acquire::Languages=en", "update"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(std::io::stderr()))
            .status()
            .map_err(|e| DataError::io(format!("running {UPDATE_COMMAND}"), e))?;
        if !status.success() {
            return Err(DataError::Command {
                command: UPDATE_COMMAND.into(),
                message: status.to_string(),
            });
        }
        translations = list_files("Translations")?;
        if translations.is_empty() {
            return Err(DataError::Missing(format!(
                "`{UPDATE_COMMAND}` fetched no Translation-en list: check the apt sources"
            )));
        }
    }
    let packages = list_files("Packages")?;
    if packages.is_empty() {
        return Err(DataError::Missing(format!(
            "no apt Packages lists: run `sudo {UPDATE_COMMAND}`"
        )));
    }

    let mut sections: HashMap<String, String> = HashMap::new();
    let mut md5s: HashSet<(String, String)> = HashSet::new();
    for p in &packages {
        let text = cat_file(p)?;
        for e in parse_packages(&text) {
            if let Some(s) = e.section.map(normalize_section).filter(|s| !s.is_empty()) {
                sections
                    .entry(e.package.to_string())
                    .or_insert_with(|| s.to_string());
            }
            if let Some(m) = e.md5 {
                md5s.insert((e.package.to_string(), m.to_string()));
            }
        }
    }
    let mut all = Vec::new();
    for p in &translations {
        let text = cat_file(p)?;
        all.extend(parse_translations(&text).map_err(|e| match e {
            DataError::Malformed { line, message, .. } => DataError::Malformed {
                path: p.clone(),
                line,
                message,
            },
            e => e,
        })?);
    }
    // Several descriptions of one package: keep those that a Packages list refers to.
    let mut matched: HashSet<&str> = HashSet::new();
    for t in &all {
        if md5s.contains(&(t.package.clone(), t.md5.clone())) {
            matched.insert(t.package.as_str());
        }
    }
    let kept: Vec<Translation> = all
        .iter()
        .filter(|t| {
            !matched.contains(t.package.as_str())
                || md5s.contains(&(t.package.clone(), t.md5.clone()))
        })
        .cloned()
        .collect();
    let records = build_corpus(&kept, &sections);
    write_corpus(&path, &records)?;
    Ok(report(path, &records, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSLATIONS: &str = "\
Package: zeta
Description-md5: 11
Description-en: the zeta tool
 Zeta does things.
 .
 It does them well.
   preformatted line

Package: alpha
Description-md5: 22
Description-en: alpha synopsis
 Same text.

Package: beta
Description-md5: 33
Description-en: beta synopsis
 Same text.

Package: gamma
Description-md5: 44
Description-en: only a synopsis

Package: nosection
Description-md5: 55
Description-en: orphan
 No section for me.

Package: netpkg
Description-md5: 66
Description-en: a contrib package
 Networking
 stuff.
";

    const PACKAGES: &str = "\
Package: zeta
Version: 1
Section: utils
Description-md5: 11

Package: alpha
Section: libs

Package: beta
Section: non-free/libs

Package: gamma
Section: doc

Package: netpkg
Section: contrib/net
Description: a contrib package
 Networking
 stuff.

Package: nosection
Priority: optional
";

    #[test]
    fn parses_translations() {
        let t = parse_translations(TRANSLATIONS).unwrap();
        assert_eq!(t.len(), 6);
        assert_eq!(t[0].package, "zeta");
        assert_eq!(t[0].md5, "11");
        assert_eq!(t[0].synopsis, "the zeta tool");
        assert_eq!(
            t[0].description,
            "Zeta does things.\n\nIt does them well.\n  preformatted line"
        );
        assert_eq!(t[3].description, "");
        assert_eq!(t[5].description, "Networking\nstuff.");
    }

    #[test]
    fn parses_sections() {
        let s = parse_sections(PACKAGES);
        assert_eq!(s["zeta"], "utils");
        assert_eq!(s["beta"], "libs");
        assert_eq!(s["netpkg"], "net");
        assert!(!s.contains_key("nosection"));
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn builds_corpus() {
        let t = parse_translations(TRANSLATIONS).unwrap();
        let s = parse_sections(PACKAGES);
        let c = build_corpus(&t, &s);
        let names: Vec<&str> = c.iter().map(|r| r.package.as_str()).collect();
        // beta duplicates alpha's description; gamma has no long description; nosection none.
        assert_eq!(names, ["alpha", "netpkg", "zeta"]);
        assert_eq!(c[0].section, "libs");
        assert_eq!(c[1].section, "net");
        assert_eq!(c[2].synopsis, "the zeta tool");
        for r in &c {
            assert_eq!(r.split, split_of(&r.package));
        }
        // Input order does not matter.
        let mut rev = t.clone();
        rev.reverse();
        assert_eq!(build_corpus(&rev, &s), c);
    }

    #[test]
    fn duplicate_package_keeps_smallest_description() {
        let text =
            "Package: p\nDescription-en: s2\n b text\n\nPackage: p\nDescription-en: s1\n a text\n";
        let t = parse_translations(text).unwrap();
        let s: HashMap<String, String> = [("p".to_string(), "x".to_string())].into();
        let c = build_corpus(&t, &s);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].description, "a text");
        assert_eq!(c[0].synopsis, "s1");
    }

    #[test]
    fn malformed_translations() {
        let e =
            parse_translations("Package: a\nDescription-en: x\n y\n\nnot a field\n").unwrap_err();
        assert!(matches!(e, DataError::Malformed { line: 5, .. }), "{e}");
        let e = parse_translations("\n Package: a\n").unwrap_err();
        assert!(matches!(e, DataError::Malformed { line: 2, .. }), "{e}");
        let e = parse_translations("Package: a\nDescription-md5: 1\n\nPackage: b\n").unwrap_err();
        assert!(matches!(e, DataError::Malformed { line: 1, .. }), "{e}");
        let e = parse_translations("Description-en: x\n").unwrap_err();
        assert!(matches!(e, DataError::Malformed { line: 1, .. }), "{e}");
    }

    #[test]
    fn crlf_and_tabs() {
        let t =
            parse_translations("Package: a\r\nDescription-en: s\r\n\tline one\r\n .\r\n two\r\n")
                .unwrap();
        assert_eq!(t[0].description, "line one\n\ntwo");
    }

    #[test]
    fn split_is_deterministic_and_proportional() {
        // Values computed with Python's hashlib by the rule of the module doc.
        for (name, want) in [
            ("bash", Split::Train),
            ("zsh", Split::Train),
            ("0ad", Split::Valid),
            ("emacs", Split::Valid),
            ("coreutils", Split::Test),
        ] {
            assert_eq!(split_of(name), want, "{name}");
        }
        let n = 20_000;
        let mut c = [0usize; 3];
        for i in 0..n {
            let s = split_of(&format!("package-{i}"));
            c[s as usize] += 1;
        }
        let f = |k: usize| c[k] as f64 / n as f64;
        assert!((f(0) - 0.8).abs() < 0.02, "{c:?}");
        assert!((f(1) - 0.1).abs() < 0.015, "{c:?}");
        assert!((f(2) - 0.1).abs() < 0.015, "{c:?}");
    }

    #[test]
    fn split_strings() {
        for s in Split::ALL {
            assert_eq!(s.to_string().parse::<Split>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert!("TRAIN".parse::<Split>().is_err());
    }

    #[test]
    fn round_trip_and_malformed() {
        let t = parse_translations(TRANSLATIONS).unwrap();
        let c = build_corpus(&t, &parse_sections(PACKAGES));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(FILE_NAME);
        write_corpus(&path, &c).unwrap();
        assert_eq!(read_corpus(&path).unwrap(), c);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), c.len());
        assert!(text.lines().next().unwrap().contains("\"split\":"));
        // No temporary file left behind.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );

        std::fs::write(
            &path,
            format!("{}\n{{\"package\":\"x\"}}\n", text.lines().next().unwrap()),
        )
        .unwrap();
        let e = read_corpus(&path).unwrap_err();
        assert!(matches!(e, DataError::Malformed { line: 2, .. }), "{e}");
        std::fs::write(&path, "not json\n").unwrap();
        assert!(matches!(
            read_corpus(&path).unwrap_err(),
            DataError::Malformed { line: 1, .. }
        ));
    }

    #[test]
    fn fetch_skips_existing_corpus() {
        let t = parse_translations(TRANSLATIONS).unwrap();
        let c = build_corpus(&t, &parse_sections(PACKAGES));
        let dir = tempfile::tempdir().unwrap();
        write_corpus(&dir.path().join(FILE_NAME), &c).unwrap();
        let r = fetch(dir.path()).unwrap();
        assert!(r.skipped_existing);
        assert_eq!(r.records, 3);
        assert_eq!(r.sections, 3);
        assert_eq!(r.per_split.train + r.per_split.valid + r.per_split.test, 3);
    }

    #[test]
    fn default_dir_ends_right() {
        assert!(default_dir().ends_with("sparsekit/data/debian-text"));
    }
}
