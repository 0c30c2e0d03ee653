//! NumPy `.npy` arrays: a hand-written, bounded reader of the format (version 1.0, 2.0 and 3.0
//! headers) and a writer of version 1.0 files, plus the dense 2-D helpers
//! [`read_npy_dense`] / [`write_npy_dense`].
//!
//! The reader never trusts the header: the payload size `prod(shape) × itemsize` is computed with
//! overflow checks and compared with the bytes actually available before anything of that size is
//! allocated (when reading from a stream of unknown length, memory grows only as bytes arrive).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::error::{FormatError, Result};
use crate::index::SpIndex;
use crate::scalar::Scalar;

const KIND: &str = "npy";
const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// NumPy itself refuses headers above 10 000 bytes by default; we allow a little more.
const MAX_HEADER_LEN: usize = 1 << 16;
/// At most this many bytes are reserved up front for a payload read from a stream.
const PREALLOC_CAP: usize = 1 << 20;

/// Element type of an `.npy` array (the `descr` field), without byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpyDtype {
    /// Booleans, one byte each (`b1`, `?`).
    Bool,
    /// Signed 8-bit integer (`i1`).
    I8,
    /// Signed 16-bit integer (`i2`).
    I16,
    /// Signed 32-bit integer (`i4`).
    I32,
    /// Signed 64-bit integer (`i8`).
    I64,
    /// Unsigned 8-bit integer (`u1`).
    U8,
    /// Unsigned 16-bit integer (`u2`).
    U16,
    /// Unsigned 32-bit integer (`u4`).
    U32,
    /// Unsigned 64-bit integer (`u8`).
    U64,
    /// IEEE half-precision float (`f2`).
    F16,
    /// IEEE single-precision float (`f4`).
    F32,
    /// IEEE double-precision float (`f8`).
    F64,
    /// Fixed-length byte string `S<n>`.
    Bytes(usize),
    /// Fixed-length UCS-4 string `U<n>` (4 bytes per character).
    Unicode(usize),
}

impl NpyDtype {
    /// Bytes per element.
    pub fn itemsize(self) -> Option<usize> {
        Some(match self {
            NpyDtype::Bool | NpyDtype::I8 | NpyDtype::U8 => 1,
            NpyDtype::I16 | NpyDtype::U16 | NpyDtype::F16 => 2,
            NpyDtype::I32 | NpyDtype::U32 | NpyDtype::F32 => 4,
            NpyDtype::I64 | NpyDtype::U64 | NpyDtype::F64 => 8,
            NpyDtype::Bytes(n) => n,
            NpyDtype::Unicode(n) => n.checked_mul(4)?,
        })
    }
    /// NumPy-style short name (`"float32"`, `"int64"`, …).
    pub fn name(self) -> String {
        match self {
            NpyDtype::Bool => "bool".into(),
            NpyDtype::I8 => "int8".into(),
            NpyDtype::I16 => "int16".into(),
            NpyDtype::I32 => "int32".into(),
            NpyDtype::I64 => "int64".into(),
            NpyDtype::U8 => "uint8".into(),
            NpyDtype::U16 => "uint16".into(),
            NpyDtype::U32 => "uint32".into(),
            NpyDtype::U64 => "uint64".into(),
            NpyDtype::F16 => "float16".into(),
            NpyDtype::F32 => "float32".into(),
            NpyDtype::F64 => "float64".into(),
            NpyDtype::Bytes(n) => format!("S{n}"),
            NpyDtype::Unicode(n) => format!("U{n}"),
        }
    }
    fn is_float(self) -> bool {
        matches!(self, NpyDtype::F16 | NpyDtype::F32 | NpyDtype::F64)
    }
    /// Whether every value of this type is exact in f32: false for f64 and 32/64-bit integers.
    pub fn exact_in_f32(self) -> bool {
        !matches!(
            self,
            NpyDtype::F64 | NpyDtype::I32 | NpyDtype::I64 | NpyDtype::U32 | NpyDtype::U64
        )
    }
    fn is_int(self) -> bool {
        matches!(
            self,
            NpyDtype::Bool
                | NpyDtype::I8
                | NpyDtype::I16
                | NpyDtype::I32
                | NpyDtype::I64
                | NpyDtype::U8
                | NpyDtype::U16
                | NpyDtype::U32
                | NpyDtype::U64
        )
    }
}

/// The parsed header of an `.npy` array.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NpyHeader {
    /// Element type.
    pub dtype: NpyDtype,
    /// `true` for little-endian or byte-order-free (`|`) data.
    pub little_endian: bool,
    /// `true` when the data is stored column-major (Fortran order).
    pub fortran_order: bool,
    /// Size of each dimension; empty for a scalar.
    pub shape: Vec<usize>,
}

impl NpyHeader {
    /// Number of elements, checked.
    pub fn len(&self) -> Result<usize> {
        self.shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| {
                FormatError::ShapeOverflow(format!(
                    "npy shape {:?}: element count overflows usize",
                    self.shape
                ))
            })
    }
    /// Whether the array has no elements.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Payload size in bytes, checked.
    pub fn nbytes(&self) -> Result<usize> {
        let item = self.dtype.itemsize().ok_or_else(|| {
            FormatError::ShapeOverflow(format!("npy dtype {:?} item size overflows", self.dtype))
        })?;
        self.len()?.checked_mul(item).ok_or_else(|| {
            FormatError::ShapeOverflow(format!(
                "npy shape {:?} × {item} bytes overflows usize",
                self.shape
            ))
        })
    }
}

/// An array read from an `.npy` stream: header plus raw payload bytes (file byte order).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// The parsed header.
    pub header: NpyHeader,
    /// Raw payload, `header.nbytes()` bytes in the file's byte order and layout.
    pub data: Vec<u8>,
}

// ---------------------------------------------------------------------------------------------
// header parsing

/// A NumPy `descr` (`"<f4"`, `"|b1"`, …) as `(dtype, little_endian)`.
pub(crate) fn parse_descr(s: &str) -> Result<(NpyDtype, bool)> {
    let bad = || FormatError::unsupported(KIND, format!("dtype descr '{s}'"));
    let mut chars = s.chars();
    let order = chars.next().ok_or_else(bad)?;
    let (little, rest) = match order {
        '<' | '|' | '=' => (true, &s[1..]),
        '>' => (false, &s[1..]),
        _ => (cfg!(target_endian = "little"), s),
    };
    let (code, size) = rest.split_at(
        rest.find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len()),
    );
    let n: usize = if size.is_empty() {
        0
    } else {
        size.parse().map_err(|_| bad())?
    };
    let dt = match (code, n) {
        ("b", 1) | ("?", 1) | ("?", 0) => NpyDtype::Bool,
        ("i", 1) => NpyDtype::I8,
        ("i", 2) => NpyDtype::I16,
        ("i", 4) => NpyDtype::I32,
        ("i", 8) => NpyDtype::I64,
        ("u", 1) => NpyDtype::U8,
        ("u", 2) => NpyDtype::U16,
        ("u", 4) => NpyDtype::U32,
        ("u", 8) => NpyDtype::U64,
        ("f", 2) => NpyDtype::F16,
        ("f", 4) => NpyDtype::F32,
        ("f", 8) => NpyDtype::F64,
        ("S", n) | ("a", n) => NpyDtype::Bytes(n),
        ("U", n) => NpyDtype::Unicode(n),
        _ => return Err(bad()),
    };
    // Single-byte types have no byte order.
    Ok((
        dt,
        little || dt.itemsize() == Some(1) || matches!(dt, NpyDtype::Bytes(_)),
    ))
}

/// A tiny tokenizer for the Python dict literal NumPy writes:
/// `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }`.
struct DictParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> DictParser<'a> {
    fn err(&self, what: &str) -> FormatError {
        FormatError::malformed(KIND, format!("header dict: {what} at byte {}", self.pos))
    }
    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.pos < self.s.len() && self.s[self.pos] == c {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }
    fn string(&mut self) -> Result<String> {
        self.ws();
        let q = *self
            .s
            .get(self.pos)
            .ok_or_else(|| self.err("expected string"))?;
        if q != b'\'' && q != b'"' {
            return Err(self.err("expected string"));
        }
        let start = self.pos + 1;
        let end = self.s[start..]
            .iter()
            .position(|&c| c == q)
            .ok_or_else(|| self.err("unterminated string"))?;
        self.pos = start + end + 1;
        std::str::from_utf8(&self.s[start..start + end])
            .map(str::to_owned)
            .map_err(|_| self.err("non-UTF-8 string"))
    }
    fn word(&mut self) -> &'a [u8] {
        self.ws();
        let start = self.pos;
        while self.pos < self.s.len()
            && (self.s[self.pos].is_ascii_alphanumeric() || self.s[self.pos] == b'_')
        {
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }
    fn shape(&mut self) -> Result<Vec<usize>> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(dims);
            }
            if dims.len() >= 32 {
                return Err(self.err("more than 32 dimensions"));
            }
            let w = self.word();
            let w = w.strip_suffix(b"L").unwrap_or(w);
            let d = std::str::from_utf8(w)
                .ok()
                .and_then(|w| w.parse::<usize>().ok())
                .ok_or_else(|| self.err("expected a non-negative dimension"))?;
            dims.push(d);
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

/// Parses the header dict text (the part after the length field).
pub fn parse_header_dict(text: &[u8]) -> Result<NpyHeader> {
    let mut p = DictParser { s: text, pos: 0 };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        match key.as_str() {
            "descr" => descr = Some(parse_descr(&p.string()?)?),
            "fortran_order" => {
                fortran = Some(match p.word() {
                    b"True" => true,
                    b"False" => false,
                    _ => return Err(p.err("fortran_order must be True or False")),
                })
            }
            "shape" => shape = Some(p.shape()?),
            other => return Err(p.err(&format!("unexpected key '{other}'"))),
        }
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    let (dtype, little_endian) =
        descr.ok_or_else(|| FormatError::malformed(KIND, "header has no 'descr'"))?;
    let header = NpyHeader {
        dtype,
        little_endian,
        fortran_order: fortran
            .ok_or_else(|| FormatError::malformed(KIND, "header has no 'fortran_order'"))?,
        shape: shape.ok_or_else(|| FormatError::malformed(KIND, "header has no 'shape'"))?,
    };
    header.nbytes()?;
    Ok(header)
}

fn read_exact_or<R: Read>(r: &mut R, buf: &mut [u8], what: &str) -> Result<()> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            FormatError::malformed(KIND, format!("truncated {what}"))
        }
        _ => FormatError::Io(e),
    })
}

/// Reads the magic, version and header of an `.npy` stream. Returns the header and the number
/// of bytes consumed.
pub fn read_header<R: Read>(r: &mut R) -> Result<(NpyHeader, usize)> {
    let mut pre = [0u8; 8];
    read_exact_or(r, &mut pre, "magic")?;
    if &pre[..6] != MAGIC {
        return Err(FormatError::malformed(KIND, "not an .npy file (bad magic)"));
    }
    let (len, lenbytes) = match pre[6] {
        1 => {
            let mut b = [0u8; 2];
            read_exact_or(r, &mut b, "header length")?;
            (u16::from_le_bytes(b) as usize, 2)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            read_exact_or(r, &mut b, "header length")?;
            (u32::from_le_bytes(b) as usize, 4)
        }
        v => {
            return Err(FormatError::unsupported(
                KIND,
                format!("format version {v}.{}", pre[7]),
            ))
        }
    };
    if len > MAX_HEADER_LEN {
        return Err(FormatError::malformed(
            KIND,
            format!("header length {len} exceeds {MAX_HEADER_LEN}"),
        ));
    }
    let mut text = vec![0u8; len];
    read_exact_or(r, &mut text, "header")?;
    Ok((parse_header_dict(&text)?, 8 + lenbytes + len))
}

/// Reads a whole `.npy` array from a stream. `available`, when known, is the number of bytes
/// left in the stream (file or zip member size): a header that declares more payload than that
/// is rejected before any allocation.
pub fn read_array_from<R: Read>(mut r: R, available: Option<u64>) -> Result<NpyArray> {
    let (header, used) = read_header(&mut r)?;
    let nbytes = header.nbytes()?;
    if let Some(avail) = available {
        let left = avail.saturating_sub(used as u64);
        if (nbytes as u64) > left {
            return Err(FormatError::malformed(
                KIND,
                format!(
                    "shape {:?} needs {nbytes} bytes of data, only {left} present",
                    header.shape
                ),
            ));
        }
    }
    let mut data = Vec::with_capacity(nbytes.min(PREALLOC_CAP));
    (&mut r).take(nbytes as u64).read_to_end(&mut data)?;
    if data.len() != nbytes {
        return Err(FormatError::malformed(
            KIND,
            format!(
                "truncated data: shape {:?} needs {nbytes} bytes, got {}",
                header.shape,
                data.len()
            ),
        ));
    }
    Ok(NpyArray { header, data })
}

/// Reads a whole `.npy` array from bytes.
pub fn read_array_from_bytes(bytes: &[u8]) -> Result<NpyArray> {
    read_array_from(bytes, Some(bytes.len() as u64))
}

// ---------------------------------------------------------------------------------------------
// element conversion

macro_rules! chunks {
    ($data:expr, $n:expr, $t:ty, $le:expr) => {
        $data.chunks_exact($n).map(move |c| {
            let a: [u8; $n] = c.try_into().unwrap();
            if $le {
                <$t>::from_le_bytes(a)
            } else {
                <$t>::from_be_bytes(a)
            }
        })
    };
}

impl NpyArray {
    /// Elements as `i128` (integer and bool arrays only).
    fn ints(&self, what: &str) -> Result<Vec<i128>> {
        let le = self.header.little_endian;
        let d = &self.data;
        Ok(match self.header.dtype {
            NpyDtype::Bool | NpyDtype::U8 => d.iter().map(|&b| b as i128).collect(),
            NpyDtype::I8 => d.iter().map(|&b| b as i8 as i128).collect(),
            NpyDtype::I16 => chunks!(d, 2, i16, le).map(i128::from).collect(),
            NpyDtype::U16 => chunks!(d, 2, u16, le).map(i128::from).collect(),
            NpyDtype::I32 => chunks!(d, 4, i32, le).map(i128::from).collect(),
            NpyDtype::U32 => chunks!(d, 4, u32, le).map(i128::from).collect(),
            NpyDtype::I64 => chunks!(d, 8, i64, le).map(i128::from).collect(),
            NpyDtype::U64 => chunks!(d, 8, u64, le).map(i128::from).collect(),
            dt => {
                return Err(FormatError::unsupported(
                    KIND,
                    format!("{what} has dtype {}, expected an integer type", dt.name()),
                ))
            }
        })
    }

    /// Elements as non-negative `usize` (for shapes).
    pub fn to_usize_vec(&self, what: &str) -> Result<Vec<usize>> {
        self.ints(what)?
            .into_iter()
            .map(|v| {
                usize::try_from(v).map_err(|_| {
                    FormatError::malformed(KIND, format!("{what} holds {v}, not a valid size"))
                })
            })
            .collect()
    }

    /// Elements as the sparse index type `I` (negative or too large values are errors).
    pub fn to_index_vec<I: SpIndex>(&self, what: &'static str) -> Result<Vec<I>> {
        let le = self.header.little_endian;
        let conv = |(position, v)| super::index_from_file(what, position, v);
        // Fast paths for the two common cases avoid the i128 detour.
        match self.header.dtype {
            NpyDtype::I32 => chunks!(self.data, 4, i32, le)
                .map(|v| v as i128)
                .enumerate()
                .map(conv)
                .collect(),
            NpyDtype::I64 => chunks!(self.data, 8, i64, le)
                .map(|v| v as i128)
                .enumerate()
                .map(conv)
                .collect(),
            _ => self.ints(what)?.into_iter().enumerate().map(conv).collect(),
        }
    }

    /// Elements converted to the value type `T` (float, integer or bool arrays).
    pub fn to_scalar_vec<T: Scalar>(&self, what: &str) -> Result<Vec<T>> {
        let le = self.header.little_endian;
        let d = &self.data;
        Ok(match self.header.dtype {
            NpyDtype::F32 => {
                if T::NAME == "f32" && le == cfg!(target_endian = "little") {
                    // Same type: a plain byte copy.
                    let mut out = vec![T::ZERO; d.len() / 4];
                    bytemuck::cast_slice_mut::<T, u8>(&mut out).copy_from_slice(d);
                    out
                } else {
                    chunks!(d, 4, f32, le).map(T::from_f32).collect()
                }
            }
            NpyDtype::F64 => chunks!(d, 8, f64, le).map(T::from_f64).collect(),
            NpyDtype::F16 => chunks!(d, 2, u16, le)
                .map(|b| T::from_f32(half::f16::from_bits(b).to_f32()))
                .collect(),
            dt if dt.is_int() => self
                .ints(what)?
                .into_iter()
                .map(|v| T::from_f64(v as f64))
                .collect(),
            dt => {
                return Err(FormatError::unsupported(
                    KIND,
                    format!("{what} has dtype {}, expected a numeric type", dt.name()),
                ))
            }
        })
    }

    /// The value of a 0-d (or 1-element) string array (`S` or `U` dtype), trailing NULs removed.
    pub fn to_string_scalar(&self, what: &str) -> Result<String> {
        if self.header.len()? != 1 {
            return Err(FormatError::malformed(
                KIND,
                format!(
                    "{what} should hold one string, has shape {:?}",
                    self.header.shape
                ),
            ));
        }
        let s = match self.header.dtype {
            NpyDtype::Bytes(_) => String::from_utf8_lossy(&self.data).into_owned(),
            NpyDtype::Unicode(_) => {
                let le = self.header.little_endian;
                chunks!(self.data, 4, u32, le)
                    .filter_map(char::from_u32)
                    .collect()
            }
            dt => {
                return Err(FormatError::malformed(
                    KIND,
                    format!("{what} has dtype {}, expected a string", dt.name()),
                ))
            }
        };
        Ok(s.trim_end_matches('\0').to_owned())
    }

    /// Whether the array holds floating-point values.
    pub fn is_float(&self) -> bool {
        self.header.dtype.is_float()
    }
}

// ---------------------------------------------------------------------------------------------
// writing

/// Writes a version 1.0 header for a little-endian C-order array, padded so that the data starts
/// at a multiple of 64 bytes (as NumPy does).
pub fn write_header<W: Write>(w: &mut W, descr: &str, shape: &[usize]) -> Result<()> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    dict.extend(std::iter::repeat_n(' ', pad));
    dict.push('\n');
    if dict.len() > u16::MAX as usize {
        return Err(FormatError::unsupported(
            KIND,
            "header longer than 65535 bytes",
        ));
    }
    w.write_all(MAGIC)?;
    w.write_all(&[1, 0])?;
    w.write_all(&(dict.len() as u16).to_le_bytes())?;
    w.write_all(dict.as_bytes())?;
    Ok(())
}

/// NumPy `descr` for a value type.
pub(crate) fn scalar_descr<T: Scalar>() -> Result<&'static str> {
    match T::NAME {
        "f32" => Ok("<f4"),
        "f64" => Ok("<f8"),
        "f16" => Ok("<f2"),
        other => Err(FormatError::unsupported(
            KIND,
            format!("NumPy has no {other} dtype; cast to f32 first"),
        )),
    }
}

/// Writes `values` as a 1-D or n-D little-endian array of their own type.
pub(crate) fn write_scalars<W: Write, T: Scalar>(
    w: &mut W,
    shape: &[usize],
    values: &[T],
) -> Result<()> {
    write_header(w, scalar_descr::<T>()?, shape)?;
    if cfg!(target_endian = "little") {
        w.write_all(bytemuck::cast_slice(values))?;
    } else {
        for v in values {
            let b: &[u8] = bytemuck::bytes_of(v);
            w.write_all(&b.iter().rev().copied().collect::<Vec<u8>>())?;
        }
    }
    Ok(())
}

/// Writes integers as `<i4` (when `wide` is false; caller checked they fit) or `<i8`.
pub(crate) fn write_ints<W: Write>(
    w: &mut W,
    shape: &[usize],
    values: impl Iterator<Item = usize>,
    wide: bool,
) -> Result<()> {
    write_header(w, if wide { "<i8" } else { "<i4" }, shape)?;
    let mut buf = Vec::with_capacity(8 * 1024);
    for v in values {
        if wide {
            buf.extend_from_slice(&(v as i64).to_le_bytes());
        } else {
            buf.extend_from_slice(&(v as i32).to_le_bytes());
        }
        if buf.len() >= 8 * 1024 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)?;
    Ok(())
}

/// Writes a 0-d byte-string array (`|S<n>`), as `np.save(b"csr")` does.
pub(crate) fn write_bytes_scalar<W: Write>(w: &mut W, s: &str) -> Result<()> {
    write_header(w, &format!("|S{}", s.len().max(1)), &[])?;
    w.write_all(s.as_bytes())?;
    if s.is_empty() {
        w.write_all(&[0])?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// dense 2-D helpers

/// Reads a dense 2-D (or 1-D, as one row) C-order `.npy` array from a stream:
/// `(values row-major, rows, cols)`. Fortran-order arrays with more than one row and column and
/// arrays of more than two dimensions are [`FormatError::Unsupported`].
pub fn read_npy_dense_from<T: Scalar, R: Read>(
    r: R,
    available: Option<u64>,
) -> Result<(Vec<T>, usize, usize)> {
    let arr = read_array_from(r, available)?;
    let (rows, cols) = match arr.header.shape[..] {
        [] => (1, 1),
        [n] => (1, n),
        [m, n] => (m, n),
        _ => {
            return Err(FormatError::unsupported(
                KIND,
                format!(
                    "{}-D array (shape {:?}); only 1-D and 2-D are read as matrices",
                    arr.header.shape.len(),
                    arr.header.shape
                ),
            ))
        }
    };
    if arr.header.fortran_order && rows > 1 && cols > 1 {
        return Err(FormatError::unsupported(
            KIND,
            "Fortran-order array; save with np.ascontiguousarray first",
        ));
    }
    if !arr.is_float() {
        return Err(FormatError::unsupported(
            KIND,
            format!("dtype {} (expected float16/32/64)", arr.header.dtype.name()),
        ));
    }
    Ok((arr.to_scalar_vec("array")?, rows, cols))
}

/// Reads a dense 2-D `.npy` file; see [`read_npy_dense_from`].
pub fn read_npy_dense<T: Scalar>(path: impl AsRef<Path>) -> Result<(Vec<T>, usize, usize)> {
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    read_npy_dense_from(BufReader::new(f), Some(len))
}

/// Reads a dense `.npy` array from bytes; see [`read_npy_dense_from`].
pub fn read_npy_dense_from_bytes<T: Scalar>(bytes: &[u8]) -> Result<(Vec<T>, usize, usize)> {
    read_npy_dense_from(bytes, Some(bytes.len() as u64))
}

/// Writes a row-major `rows × cols` matrix as a 2-D C-order `.npy` stream (f32, f64 or f16).
pub fn write_npy_dense_to<T: Scalar, W: Write>(
    w: &mut W,
    values: &[T],
    rows: usize,
    cols: usize,
) -> Result<()> {
    let n = crate::error::checked_size(rows, cols, "npy shape")?;
    if values.len() != n {
        return Err(FormatError::len("values", n, values.len()));
    }
    write_scalars(w, &[rows, cols], values)
}

/// Writes a row-major `rows × cols` matrix as a 2-D C-order `.npy` file.
pub fn write_npy_dense<T: Scalar>(
    path: impl AsRef<Path>,
    values: &[T],
    rows: usize,
    cols: usize,
) -> Result<()> {
    let mut w = BufWriter::new(File::create(path)?);
    write_npy_dense_to(&mut w, values, rows, cols)?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip() {
        let mut buf = Vec::new();
        write_npy_dense_to(&mut buf, &[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3).unwrap();
        assert_eq!((buf.len() - 48) % 64, 0);
        let (v, r, c) = read_npy_dense_from_bytes::<f64>(&buf).unwrap();
        assert_eq!((r, c), (2, 3));
        assert_eq!(v, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let (hdr, used) = read_header(&mut &buf[..]).unwrap();
        assert_eq!(used % 64, 0);
        assert_eq!(hdr.dtype, NpyDtype::F64);
    }

    #[test]
    fn parses_numpy_dicts() {
        let h =
            parse_header_dict(b"{'descr': '>i4', 'fortran_order': True, 'shape': (3L, 4), }  \n")
                .unwrap();
        assert_eq!(
            (h.dtype, h.little_endian, h.fortran_order, h.shape),
            (NpyDtype::I32, false, true, vec![3, 4])
        );
        let h =
            parse_header_dict(b"{'descr': '|S3', 'fortran_order': False, 'shape': (), }").unwrap();
        assert_eq!((h.dtype, h.shape.len()), (NpyDtype::Bytes(3), 0));
        let h =
            parse_header_dict(b"{'descr': '<U3', 'fortran_order': False, 'shape': (5,)}").unwrap();
        assert_eq!((h.dtype, h.shape), (NpyDtype::Unicode(3), vec![5]));
        assert!(
            parse_header_dict(b"{'descr': '<c16', 'fortran_order': False, 'shape': ()}").is_err()
        );
        assert!(parse_header_dict(b"{'descr': '<f8', 'shape': ()}").is_err());
        assert!(
            parse_header_dict(b"{'descr': '<f8', 'fortran_order': False, 'shape': (-1,)}").is_err()
        );
        let e = parse_header_dict(
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}",
        )
        .unwrap_err();
        assert!(matches!(e, FormatError::ShapeOverflow(_)), "{e}");
    }

    #[test]
    fn huge_shape_tiny_payload_errors_without_allocating() {
        let mut buf = Vec::new();
        write_header(&mut buf, "<f8", &[1 << 30, 1 << 20]).unwrap();
        buf.extend_from_slice(&[0u8; 16]);
        let t = std::time::Instant::now();
        let e = read_npy_dense_from_bytes::<f32>(&buf).unwrap_err();
        assert!(e.to_string().contains("bytes of data"), "{e}");
        // Unknown length: memory only grows with data that arrives.
        let e = read_npy_dense_from::<f32, _>(&buf[..], None).unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        assert!(t.elapsed().as_secs() < 1);
    }

    #[test]
    fn strings_and_indices() {
        let mut buf = Vec::new();
        write_bytes_scalar(&mut buf, "csr").unwrap();
        assert_eq!(
            read_array_from_bytes(&buf)
                .unwrap()
                .to_string_scalar("format")
                .unwrap(),
            "csr"
        );
        let mut buf = Vec::new();
        write_ints(&mut buf, &[3], [0usize, 5, 7].into_iter(), true).unwrap();
        let a = read_array_from_bytes(&buf).unwrap();
        assert_eq!(a.to_index_vec::<u32>("indices").unwrap(), vec![0, 5, 7]);
        let mut buf = Vec::new();
        write_header(&mut buf, "<i4", &[1]).unwrap();
        buf.extend_from_slice(&(-1i32).to_le_bytes());
        assert!(read_array_from_bytes(&buf)
            .unwrap()
            .to_index_vec::<u32>("indices")
            .is_err());
    }
}
