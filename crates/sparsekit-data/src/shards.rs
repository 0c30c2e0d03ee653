//! Activations streamed to safetensors shards (for SAE training and calibration), and read back
//! as batches, in order or shuffled with bounded memory.
//!
//! # Layout
//!
//! A shard directory holds:
//!
//! - `shard-00000.safetensors`, `shard-00001.safetensors`, … (five digits or more, in order), each
//!   a safetensors file with four tensors, all with the same number of rows `tokens`
//!   (every shard but the last holds exactly `tokens_per_shard` rows):
//!   - `activations`: `[tokens, d]`, `F32` (row-major, one row per token);
//!   - `token_ids`: `[tokens]`, `I64` (the tokenizer's id of the token; I64 so that PyTorch can
//!     index an embedding with it directly);
//!   - `text_index`: `[tokens]`, `I64`, the index of the input text the token comes from, global
//!     across shards (texts are numbered 0, 1, … in the order they were written; a text with no
//!     token still takes its index; a text may be split across two or more shards);
//!   - `position`: `[tokens]`, `I64`, the token's position within its text;
//!
//!   and the safetensors `__metadata__` `{"format": "sparsekit-activations", "d": "<d>",
//!   "shard": "<index of the shard, from 0>", "tokens": "<rows>"}` (strings, as safetensors
//!   requires).
//! - `manifest.json`, written **last** (a directory without it is an incomplete write):
//!
//!   ```json
//!   {"format": "sparsekit-activations", "version": 1, "d": 384, "dtype": "f32",
//!    "tokens": 1234, "texts": 56,
//!    "shards": [{"file": "shard-00000.safetensors", "tokens": 1024},
//!               {"file": "shard-00001.safetensors", "tokens": 210}],
//!    "meta": {"model": "all-MiniLM-L6-v2", "layer": "3", "site": "mlp_out"}}
//!   ```
//!
//!   `tokens` is the sum of the shards' `tokens`, `texts` the number of texts written, `meta` a
//!   free-form map of strings. A writer that received no token writes no shard and
//!   `"shards": []`.
//!
//! In Python (NumPy):
//!
//! ```python
//! import json, numpy as np
//! from safetensors.numpy import load_file
//! m = json.load(open(f"{d}/manifest.json"))
//! parts = [load_file(f"{d}/{s['file']}") for s in m["shards"]]
//! x = np.concatenate([p["activations"] for p in parts])      # (m["tokens"], m["d"]) float32
//! text = np.concatenate([p["text_index"] for p in parts])    # (m["tokens"],) int64
//! ```
//!
//! # Reading
//!
//! [`ShardReader::batches`] yields every row exactly once per pass. With
//! [`Shuffle::Buffer`], the shard order is shuffled by the seed, the rows of a loaded shard are
//! taken in a random order, and they go through a shuffle buffer of `size` rows (each new row
//! replaces a randomly chosen row of the full buffer, which is emitted). At most one shard and
//! the buffer are in memory. The order is a deterministic function of the seed (for this
//! version of `rand`).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use crate::DataError;

/// The `format` field of a manifest and of each shard's metadata.
pub const FORMAT: &str = "sparsekit-activations";
/// The layout version this module writes and reads.
pub const VERSION: u32 = 1;
/// The name of the manifest file in a shard directory.
pub const MANIFEST: &str = "manifest.json";

type Result<T> = std::result::Result<T, DataError>;

/// The `manifest.json` of a shard directory (see the [module docs](self) for the layout).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// Width of an activation row.
    pub d: usize,
    /// Element type of `activations`: always `"f32"`.
    pub dtype: String,
    /// Total number of rows (tokens) over all shards.
    pub tokens: usize,
    /// Number of texts written (the text indices are `0..texts`).
    pub texts: usize,
    /// The shards, in order.
    pub shards: Vec<ShardInfo>,
    /// Free-form description (model, layer, site, …).
    pub meta: BTreeMap<String, String>,
}

/// One shard of a [`Manifest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// File name within the directory (`shard-00000.safetensors`).
    pub file: String,
    /// Number of rows in the shard.
    pub tokens: usize,
}

/// Rows of activations with their token ids, text indices and positions (column-wise).
#[derive(Clone, Debug, Default)]
struct Rows {
    act: Vec<f32>,
    tok: Vec<u32>,
    text: Vec<u64>,
    pos: Vec<u32>,
}

impl Rows {
    fn len(&self) -> usize {
        self.tok.len()
    }

    fn clear(&mut self) {
        self.act.clear();
        self.tok.clear();
        self.text.clear();
        self.pos.clear();
    }

    fn push_from(&mut self, src: &Rows, i: usize, d: usize) {
        self.act.extend_from_slice(&src.act[i * d..(i + 1) * d]);
        self.tok.push(src.tok[i]);
        self.text.push(src.text[i]);
        self.pos.push(src.pos[i]);
    }

    /// Row `i` of `self` becomes row `k` of `src`.
    fn set_from(&mut self, i: usize, src: &Rows, k: usize, d: usize) {
        self.act[i * d..(i + 1) * d].copy_from_slice(&src.act[k * d..(k + 1) * d]);
        self.tok[i] = src.tok[k];
        self.text[i] = src.text[k];
        self.pos[i] = src.pos[k];
    }

    fn swap_remove(&mut self, i: usize, d: usize) {
        let last = self.len() - 1;
        if i != last {
            let (a, b) = self.act.split_at_mut(last * d);
            a[i * d..(i + 1) * d].copy_from_slice(&b[..d]);
        }
        self.act.truncate(last * d);
        self.tok.swap_remove(i);
        self.text.swap_remove(i);
        self.pos.swap_remove(i);
    }
}

/// Writes activations text by text into a shard directory (see the [module docs](self)).
/// Memory is bounded: at most `tokens_per_shard` rows are buffered.
#[derive(Debug)]
pub struct ShardWriter {
    dir: PathBuf,
    d: usize,
    tokens_per_shard: usize,
    meta: BTreeMap<String, String>,
    buf: Rows,
    shards: Vec<ShardInfo>,
    tokens: usize,
    texts: usize,
}

impl ShardWriter {
    /// A writer into `dir` (created when absent) of rows of width `d`, `tokens_per_shard` rows
    /// per shard, with `meta` copied into the manifest. Refuses `d == 0`, `tokens_per_shard == 0`,
    /// and a `dir` that is not empty (a previous write, complete or not, is never mixed with this
    /// one).
    pub fn create(
        dir: &Path,
        d: usize,
        tokens_per_shard: usize,
        meta: BTreeMap<String, String>,
    ) -> Result<Self> {
        if d == 0 {
            return Err(DataError::Invalid(format!(
                "{}: activation width d must be > 0",
                dir.display()
            )));
        }
        if tokens_per_shard == 0 {
            return Err(DataError::Invalid(format!(
                "{}: tokens_per_shard must be > 0",
                dir.display()
            )));
        }
        fs::create_dir_all(dir)
            .map_err(|e| DataError::io(format!("creating {}", dir.display()), e))?;
        let mut entries = fs::read_dir(dir)
            .map_err(|e| DataError::io(format!("listing {}", dir.display()), e))?;
        if entries.next().is_some() {
            let what = if dir.join(MANIFEST).exists() {
                "holds a shard set (manifest.json)"
            } else {
                "is not empty"
            };
            return Err(DataError::Invalid(format!(
                "{} {what}: shards are written into a new or empty directory",
                dir.display()
            )));
        }
        Ok(ShardWriter {
            dir: dir.to_path_buf(),
            d,
            tokens_per_shard,
            meta,
            buf: Rows::default(),
            shards: Vec::new(),
            tokens: 0,
            texts: 0,
        })
    }

    /// Appends one text's tokens: `activations` is `[n, d]` row-major, `token_ids` and
    /// `positions` have `n` entries. The text gets the next text index (also when `n == 0`).
    /// Full shards are written as they fill, so a text may be split across shards.
    pub fn push_text(
        &mut self,
        activations: &[f32],
        token_ids: &[u32],
        positions: &[u32],
    ) -> Result<()> {
        let n = token_ids.len();
        if positions.len() != n || activations.len() != n * self.d {
            return Err(DataError::Invalid(format!(
                "{}: text {}: {} token ids, {} positions and {} activations (expected {} = {n} \
                 tokens x d {})",
                self.dir.display(),
                self.texts,
                n,
                positions.len(),
                activations.len(),
                n * self.d,
                self.d
            )));
        }
        let text = self.texts as u64;
        let mut start = 0;
        while start < n {
            let take = (self.tokens_per_shard - self.buf.len()).min(n - start);
            let end = start + take;
            self.buf
                .act
                .extend_from_slice(&activations[start * self.d..end * self.d]);
            self.buf.tok.extend_from_slice(&token_ids[start..end]);
            self.buf.text.extend(std::iter::repeat_n(text, take));
            self.buf.pos.extend_from_slice(&positions[start..end]);
            start = end;
            if self.buf.len() == self.tokens_per_shard {
                self.flush()?;
            }
        }
        self.tokens += n;
        self.texts += 1;
        Ok(())
    }

    /// Rows written so far (including buffered ones).
    pub fn tokens(&self) -> usize {
        self.tokens
    }

    /// Texts written so far.
    pub fn texts(&self) -> usize {
        self.texts
    }

    /// Writes the buffered rows as the last shard, then `manifest.json`; returns the manifest.
    pub fn finish(mut self) -> Result<Manifest> {
        if self.buf.len() > 0 {
            self.flush()?;
        }
        let manifest = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            d: self.d,
            dtype: "f32".into(),
            tokens: self.tokens,
            texts: self.texts,
            shards: std::mem::take(&mut self.shards),
            meta: std::mem::take(&mut self.meta),
        };
        let path = self.dir.join(MANIFEST);
        let tmp = self.dir.join(".manifest.json.tmp");
        let json = serde_json::to_string_pretty(&manifest)
            .map_err(|e| DataError::Invalid(format!("serializing {}: {e}", path.display())))?;
        fs::write(&tmp, json + "\n")
            .map_err(|e| DataError::io(format!("writing {}", tmp.display()), e))?;
        fs::rename(&tmp, &path)
            .map_err(|e| DataError::io(format!("writing {}", path.display()), e))?;
        Ok(manifest)
    }

    fn flush(&mut self) -> Result<()> {
        let index = self.shards.len();
        let file = format!("shard-{index:05}.safetensors");
        let path = self.dir.join(&file);
        let n = self.buf.len();
        let act: Vec<u8> = self.buf.act.iter().flat_map(|v| v.to_le_bytes()).collect();
        let i64s = |v: &mut dyn Iterator<Item = i64>| -> Vec<u8> {
            v.flat_map(|x| x.to_le_bytes()).collect()
        };
        let tok = i64s(&mut self.buf.tok.iter().map(|&x| x as i64));
        let text = i64s(&mut self.buf.text.iter().map(|&x| x as i64));
        let pos = i64s(&mut self.buf.pos.iter().map(|&x| x as i64));
        let tensors = vec![
            (
                "activations",
                view(&path, Dtype::F32, vec![n, self.d], &act)?,
            ),
            ("token_ids", view(&path, Dtype::I64, vec![n], &tok)?),
            ("text_index", view(&path, Dtype::I64, vec![n], &text)?),
            ("position", view(&path, Dtype::I64, vec![n], &pos)?),
        ];
        let meta: HashMap<String, String> = [
            ("format".to_string(), FORMAT.to_string()),
            ("d".to_string(), self.d.to_string()),
            ("shard".to_string(), index.to_string()),
            ("tokens".to_string(), n.to_string()),
        ]
        .into_iter()
        .collect();
        safetensors::serialize_to_file(tensors, &Some(meta), &path)
            .map_err(|e| st_error(&path, "writing", e))?;
        self.shards.push(ShardInfo { file, tokens: n });
        self.buf.clear();
        Ok(())
    }
}

fn view<'a>(
    path: &Path,
    dtype: Dtype,
    shape: Vec<usize>,
    data: &'a [u8],
) -> Result<TensorView<'a>> {
    TensorView::new(dtype, shape, data)
        .map_err(|e| DataError::Invalid(format!("{}: building a tensor: {e:?}", path.display())))
}

fn st_error(path: &Path, what: &str, e: safetensors::SafeTensorError) -> DataError {
    match e {
        safetensors::SafeTensorError::IoError(io) => {
            DataError::io(format!("{what} {}", path.display()), io)
        }
        e => DataError::Invalid(format!("{what} {}: {e:?}", path.display())),
    }
}

/// How [`ShardReader::batches`] orders the rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shuffle {
    /// In the written order.
    None,
    /// Shuffled: shards in a random order, the rows of each in a random order, through a shuffle
    /// buffer of `size` rows (0 or 1: no buffer). Deterministic for a `seed`.
    Buffer {
        /// Rows in the shuffle buffer (memory: `size × d` floats).
        size: usize,
        /// Seed of the random order.
        seed: u64,
    },
}

/// A batch of rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `[rows, d]` row-major.
    pub activations: Vec<f32>,
    /// Number of rows (`batch_size` except for the last batch of a pass).
    pub rows: usize,
    /// Width of a row.
    pub d: usize,
    /// Token id of each row.
    pub token_ids: Vec<u32>,
    /// Text index of each row.
    pub text_index: Vec<u64>,
}

/// Reads a shard directory written by [`ShardWriter`].
#[derive(Clone, Debug)]
pub struct ShardReader {
    dir: PathBuf,
    manifest: Manifest,
}

impl ShardReader {
    /// Opens `dir`: reads and validates `manifest.json` (format, version, dtype, `d > 0`, the
    /// shard counts add up, shard names stay in the directory, every shard file exists). The
    /// shards' tensors are checked against the manifest when they are read, with errors naming
    /// the file.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DataError::Invalid(format!(
                    "{}: no {MANIFEST} (not a shard directory, or an incomplete write)",
                    dir.display()
                )))
            }
            Err(e) => return Err(DataError::io(format!("reading {}", path.display()), e)),
        };
        let bad = |what: String| DataError::Invalid(format!("{}: {what}", path.display()));
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| bad(format!("malformed manifest: {e}")))?;
        if manifest.format != FORMAT {
            return Err(bad(format!(
                "format {:?}, expected {FORMAT:?}",
                manifest.format
            )));
        }
        if manifest.version != VERSION {
            return Err(bad(format!(
                "version {}, this reader knows {VERSION}",
                manifest.version
            )));
        }
        if manifest.dtype != "f32" {
            return Err(bad(format!("dtype {:?}, expected \"f32\"", manifest.dtype)));
        }
        if manifest.d == 0 {
            return Err(bad("d is 0".into()));
        }
        let sum: usize = manifest.shards.iter().map(|s| s.tokens).sum();
        if sum != manifest.tokens {
            return Err(bad(format!(
                "tokens is {} but the shards hold {sum}",
                manifest.tokens
            )));
        }
        for s in &manifest.shards {
            if s.file.is_empty() || s.file.contains(['/', '\\']) || s.file == "." || s.file == ".."
            {
                return Err(bad(format!("shard file name {:?}", s.file)));
            }
            if !dir.join(&s.file).is_file() {
                return Err(DataError::Invalid(format!(
                    "{}: missing (listed in {})",
                    dir.join(&s.file).display(),
                    path.display()
                )));
            }
        }
        Ok(ShardReader {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Every row once, in batches of `batch_size` rows (the last one may be smaller), ordered
    /// by `shuffle`. A shard that does not match the manifest yields one error and ends the
    /// iteration; so does `batch_size == 0`.
    pub fn batches(
        &self,
        batch_size: usize,
        shuffle: Shuffle,
    ) -> impl Iterator<Item = Result<Batch>> + '_ {
        let mut order: Vec<usize> = (0..self.manifest.shards.len()).collect();
        let (rng, buf_size) = match shuffle {
            Shuffle::None => (None, 0),
            Shuffle::Buffer { size, seed } => {
                let mut rng = StdRng::seed_from_u64(seed);
                order.shuffle(&mut rng);
                (Some(rng), size)
            }
        };
        Batches {
            reader: self,
            batch_size,
            order,
            next_shard: 0,
            cur: Rows::default(),
            cur_order: Vec::new(),
            cur_pos: 0,
            rng,
            buf: Rows::default(),
            buf_size,
            done: false,
        }
    }

    /// Reads shard `i` and checks it against the manifest.
    fn load(&self, i: usize) -> Result<Rows> {
        let info = &self.manifest.shards[i];
        let path = self.dir.join(&info.file);
        let bytes =
            fs::read(&path).map_err(|e| DataError::io(format!("reading {}", path.display()), e))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| st_error(&path, "reading", e))?;
        let (n, d) = (info.tokens, self.manifest.d);
        let bad = |what: String| DataError::Invalid(format!("{}: {what}", path.display()));
        let get = |name: &str, dtype: Dtype, shape: &[usize]| {
            let t = st
                .tensor(name)
                .map_err(|_| bad(format!("no tensor {name:?}")))?;
            if t.dtype() != dtype || t.shape() != shape {
                return Err(bad(format!(
                    "tensor {name:?} is {:?} {:?}, expected {dtype:?} {shape:?} (from {MANIFEST})",
                    t.dtype(),
                    t.shape()
                )));
            }
            Ok(t.data())
        };
        let act = get("activations", Dtype::F32, &[n, d])?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let ints = |name: &str, max: i64| -> Result<Vec<i64>> {
            let v: Vec<i64> = get(name, Dtype::I64, &[n])?
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
                .collect();
            if let Some(x) = v.iter().find(|&&x| x < 0 || x > max) {
                return Err(bad(format!("{name:?} holds {x}, out of range 0..={max}")));
            }
            Ok(v)
        };
        let u32max = u32::MAX as i64;
        let tok = ints("token_ids", u32max)?
            .into_iter()
            .map(|x| x as u32)
            .collect();
        let text = ints("text_index", i64::MAX)?
            .into_iter()
            .map(|x| x as u64)
            .collect();
        let pos = ints("position", u32max)?
            .into_iter()
            .map(|x| x as u32)
            .collect();
        Ok(Rows {
            act,
            tok,
            text,
            pos,
        })
    }
}

/// The iterator of [`ShardReader::batches`].
struct Batches<'a> {
    reader: &'a ShardReader,
    batch_size: usize,
    /// Shards in reading order.
    order: Vec<usize>,
    next_shard: usize,
    /// The loaded shard, the order of its rows, and how many were taken.
    cur: Rows,
    cur_order: Vec<usize>,
    cur_pos: usize,
    rng: Option<StdRng>,
    buf: Rows,
    buf_size: usize,
    done: bool,
}

impl Batches<'_> {
    /// The index in `self.cur` of the next row of the stream (loading shards as needed), or
    /// `None` at the end.
    fn next_in_stream(&mut self) -> Result<Option<usize>> {
        while self.cur_pos == self.cur_order.len() {
            if self.next_shard == self.order.len() {
                return Ok(None);
            }
            let i = self.order[self.next_shard];
            self.next_shard += 1;
            self.cur = Rows::default(); // free the previous shard before reading the next
            self.cur = self.reader.load(i)?;
            self.cur_order = (0..self.cur.len()).collect();
            if let Some(rng) = &mut self.rng {
                self.cur_order.shuffle(rng);
            }
            self.cur_pos = 0;
        }
        let k = self.cur_order[self.cur_pos];
        self.cur_pos += 1;
        Ok(Some(k))
    }

    /// Moves the next row into `out`; `false` at the end of the pass.
    fn next_row(&mut self, out: &mut Rows) -> Result<bool> {
        let d = self.reader.manifest.d;
        if self.rng.is_none() || self.buf_size <= 1 {
            // No buffer: the written order, or the shuffled shard and row order only.
            return Ok(match self.next_in_stream()? {
                Some(k) => {
                    out.push_from(&self.cur, k, d);
                    true
                }
                None => false,
            });
        }
        loop {
            match self.next_in_stream()? {
                Some(k) if self.buf.len() < self.buf_size => self.buf.push_from(&self.cur, k, d),
                Some(k) => {
                    let rng = self.rng.as_mut().expect("shuffling");
                    let j = rng.random_range(0..self.buf.len());
                    out.push_from(&self.buf, j, d);
                    self.buf.set_from(j, &self.cur, k, d);
                    return Ok(true);
                }
                None => {
                    if self.buf.len() == 0 {
                        return Ok(false);
                    }
                    let rng = self.rng.as_mut().expect("shuffling");
                    let j = rng.random_range(0..self.buf.len());
                    out.push_from(&self.buf, j, d);
                    self.buf.swap_remove(j, d);
                    return Ok(true);
                }
            }
        }
    }
}

impl Iterator for Batches<'_> {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.batch_size == 0 {
            self.done = true;
            return Some(Err(DataError::Invalid(format!(
                "{}: batch size must be > 0",
                self.reader.dir.display()
            ))));
        }
        let d = self.reader.manifest.d;
        let cap = self.batch_size.min(self.reader.manifest.tokens);
        let mut out = Rows {
            act: Vec::with_capacity(cap * d),
            tok: Vec::with_capacity(cap),
            text: Vec::with_capacity(cap),
            pos: Vec::with_capacity(cap),
        };
        while out.len() < self.batch_size {
            match self.next_row(&mut out) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        if out.len() == 0 {
            return None;
        }
        Some(Ok(Batch {
            rows: out.len(),
            d,
            activations: out.act,
            token_ids: out.tok,
            text_index: out.text,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts of lengths `lens`; row value `act[r*d + j] = global_row * 10 + j`, token id = global
    /// row + 1000, position = index within the text.
    fn write(dir: &Path, d: usize, per: usize, lens: &[usize]) -> Manifest {
        let mut meta = BTreeMap::new();
        meta.insert("model".to_string(), "test".to_string());
        let mut w = ShardWriter::create(dir, d, per, meta).unwrap();
        let mut row = 0usize;
        for &n in lens {
            let act: Vec<f32> = (0..n)
                .flat_map(|r| (0..d).map(move |j| ((row + r) * 10 + j) as f32))
                .collect();
            let tok: Vec<u32> = (0..n).map(|r| (row + r + 1000) as u32).collect();
            let pos: Vec<u32> = (0..n as u32).collect();
            w.push_text(&act, &tok, &pos).unwrap();
            row += n;
            assert_eq!(w.tokens(), row);
        }
        w.finish().unwrap()
    }

    fn all(r: &ShardReader, bs: usize, s: Shuffle) -> Vec<Batch> {
        r.batches(bs, s).collect::<Result<Vec<_>>>().unwrap()
    }

    /// (token id, text index, first activation) of every row, in order.
    fn rows(batches: &[Batch]) -> Vec<(u32, u64, f32)> {
        batches
            .iter()
            .flat_map(|b| {
                (0..b.rows).map(move |i| (b.token_ids[i], b.text_index[i], b.activations[i * b.d]))
            })
            .collect()
    }

    #[test]
    fn round_trip_across_shards() {
        let t = tempfile::tempdir().unwrap();
        let lens = [3, 0, 7, 1, 5, 4];
        let m = write(t.path(), 3, 4, &lens);
        assert_eq!(m.tokens, 20);
        assert_eq!(m.texts, 6);
        assert_eq!(
            m.shards.iter().map(|s| s.tokens).collect::<Vec<_>>(),
            vec![4, 4, 4, 4, 4]
        );
        assert_eq!(m.shards[4].file, "shard-00004.safetensors");
        let r = ShardReader::open(t.path()).unwrap();
        assert_eq!(r.manifest(), &m);
        let b = all(&r, 6, Shuffle::None);
        assert_eq!(
            b.iter().map(|b| b.rows).collect::<Vec<_>>(),
            vec![6, 6, 6, 2]
        );
        let got = rows(&b);
        // Text index per row, texts split across shards (text 2 spans shards 0, 1 and 2).
        let mut want_text = Vec::new();
        for (t, &n) in lens.iter().enumerate() {
            want_text.extend(std::iter::repeat_n(t as u64, n));
        }
        for (i, (tok, text, a0)) in got.iter().enumerate() {
            assert_eq!(*tok, 1000 + i as u32);
            assert_eq!(*text, want_text[i]);
            assert_eq!(*a0, (i * 10) as f32);
        }
        let flat: Vec<f32> = b.iter().flat_map(|b| b.activations.clone()).collect();
        let want: Vec<f32> = (0..20)
            .flat_map(|r| (0..3).map(move |j| (r * 10 + j) as f32))
            .collect();
        assert_eq!(flat, want);
        // Positions and shard metadata, straight from a file.
        let bytes = fs::read(t.path().join("shard-00001.safetensors")).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let pos: Vec<i64> = st
            .tensor("position")
            .unwrap()
            .data()
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(pos, vec![1, 2, 3, 4]); // rows 4..8: text 2's positions 1..5
        let (_, md) = SafeTensors::read_metadata(&bytes).unwrap();
        let md = md.metadata().clone().unwrap();
        assert_eq!(md["d"], "3");
        assert_eq!(md["shard"], "1");
    }

    #[test]
    fn shuffle_yields_every_row_once_deterministically() {
        let t = tempfile::tempdir().unwrap();
        let lens: Vec<usize> = (0..40).map(|i| (i * 7) % 11).collect();
        let m = write(t.path(), 2, 16, &lens);
        let r = ShardReader::open(t.path()).unwrap();
        let plain = rows(&all(&r, 7, Shuffle::None));
        assert_eq!(plain.len(), m.tokens);
        let mut sorted = plain.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(sorted, plain);
        for size in [0, 1, 5, 64, 10_000] {
            let s = |seed| Shuffle::Buffer { size, seed };
            let a = rows(&all(&r, 7, s(1)));
            let b = rows(&all(&r, 7, s(1)));
            let c = rows(&all(&r, 13, s(2)));
            assert_eq!(a, b, "same seed, same order (size {size})");
            assert_ne!(a, c, "different seeds (size {size})");
            assert_ne!(a, plain);
            for mut x in [a, c] {
                x.sort_by(|a, b| a.partial_cmp(b).unwrap());
                assert_eq!(x, plain, "every row exactly once (size {size})");
            }
        }
        // Rows keep their activations: the first column encodes the token id.
        for b in all(&r, 9, Shuffle::Buffer { size: 20, seed: 3 }) {
            for i in 0..b.rows {
                let row = (b.token_ids[i] - 1000) as f32;
                assert_eq!(b.activations[i * 2], row * 10.0);
                assert_eq!(b.activations[i * 2 + 1], row * 10.0 + 1.0);
            }
        }
    }

    #[test]
    fn empty_writer() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("new").join("shards");
        let w = ShardWriter::create(&dir, 8, 10, BTreeMap::new()).unwrap();
        let m = w.finish().unwrap();
        assert_eq!((m.tokens, m.texts, m.shards.len()), (0, 0, 0));
        let r = ShardReader::open(&dir).unwrap();
        assert_eq!(r.batches(4, Shuffle::None).count(), 0);
        assert_eq!(
            r.batches(4, Shuffle::Buffer { size: 3, seed: 0 }).count(),
            0
        );
        // Texts without tokens still count.
        let dir2 = t.path().join("b");
        let mut w = ShardWriter::create(&dir2, 8, 10, BTreeMap::new()).unwrap();
        w.push_text(&[], &[], &[]).unwrap();
        assert_eq!(w.texts(), 1);
        let m = w.finish().unwrap();
        assert_eq!((m.tokens, m.texts, m.shards.len()), (0, 1, 0));
    }

    #[test]
    fn writer_errors() {
        let t = tempfile::tempdir().unwrap();
        let e = ShardWriter::create(&t.path().join("a"), 0, 4, BTreeMap::new()).unwrap_err();
        assert!(
            matches!(e, DataError::Invalid(_)) && e.to_string().contains("d must"),
            "{e}"
        );
        assert!(ShardWriter::create(&t.path().join("a"), 2, 0, BTreeMap::new()).is_err());
        let mut w = ShardWriter::create(&t.path().join("a"), 2, 4, BTreeMap::new()).unwrap();
        let e = w.push_text(&[0.0; 5], &[1, 2, 3], &[0, 1, 2]).unwrap_err();
        assert!(e.to_string().contains("6"), "{e}");
        assert!(w.push_text(&[0.0; 6], &[1, 2, 3], &[0, 1]).is_err());
        assert_eq!((w.tokens(), w.texts()), (0, 0));
        w.push_text(&[0.0; 6], &[1, 2, 3], &[0, 1, 2]).unwrap();
        w.finish().unwrap();
        // A directory with a manifest (or anything else) is refused.
        let e = ShardWriter::create(&t.path().join("a"), 2, 4, BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("manifest.json"), "{e}");
        fs::create_dir(t.path().join("b")).unwrap();
        fs::write(t.path().join("b/x"), b"").unwrap();
        assert!(ShardWriter::create(&t.path().join("b"), 2, 4, BTreeMap::new()).is_err());
    }

    #[test]
    fn reader_errors() {
        let t = tempfile::tempdir().unwrap();
        let e = ShardReader::open(t.path()).unwrap_err();
        assert!(e.to_string().contains("no manifest.json"), "{e}");
        let dir = t.path().join("s");
        write(&dir, 2, 3, &[4, 4]);
        let mpath = dir.join(MANIFEST);
        let orig = fs::read_to_string(&mpath).unwrap();
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v: serde_json::Value = serde_json::from_str(&orig).unwrap();
            f(&mut v);
            fs::write(&mpath, v.to_string()).unwrap();
            ShardReader::open(&dir)
        };
        let e = edit(&|v| v["format"] = "other".into()).unwrap_err();
        assert!(e.to_string().contains("format"), "{e}");
        let e = edit(&|v| v["tokens"] = 9.into()).unwrap_err();
        assert!(e.to_string().contains("shards hold 8"), "{e}");
        let e = edit(&|v| v["shards"][0]["file"] = "../x".into()).unwrap_err();
        assert!(e.to_string().contains("../x"), "{e}");
        let e = edit(&|v| v["version"] = 2.into()).unwrap_err();
        assert!(e.to_string().contains("version"), "{e}");
        // A shard whose shape disagrees with the manifest: found when read, naming the file.
        let r = edit(&|v| v["d"] = 3.into()).unwrap();
        let errs: Vec<_> = r.batches(2, Shuffle::None).collect();
        assert_eq!(errs.len(), 1);
        let e = errs[0].as_ref().unwrap_err().to_string();
        assert!(
            e.contains("shard-00000.safetensors") && e.contains("activations"),
            "{e}"
        );
        fs::write(&mpath, &orig).unwrap();
        let r = ShardReader::open(&dir).unwrap();
        assert!(r.batches(0, Shuffle::None).next().unwrap().is_err());
        fs::write(dir.join("shard-00001.safetensors"), b"garbage").unwrap();
        let res: Vec<_> = r.batches(2, Shuffle::None).collect();
        let e = res.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(e.contains("shard-00001.safetensors"), "{e}");
        fs::remove_file(dir.join("shard-00001.safetensors")).unwrap();
        let e = ShardReader::open(&dir).unwrap_err();
        assert!(e.to_string().contains("shard-00001.safetensors"), "{e}");
    }
}
