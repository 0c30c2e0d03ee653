//! IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.
//!
//! Layout: two zero bytes, a type byte (`0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32,
//! `0x0E` f64), the number of dimensions, then each dimension as a big-endian u32, then the
//! values in row-major order, big-endian. A file starting with the gzip magic (`1f 8b`, as the
//! datasets are distributed, e.g. Debian's `dataset-fashion-mnist`) is decompressed first.
//!
//! ```
//! use sparsekit_formats::io::idx::{self, IdxData};
//! // A 2 × 3 u8 array.
//! let bytes = [0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6];
//! let a = idx::read_bytes(&bytes)?;
//! assert_eq!(a.shape, vec![2, 3]);
//! assert_eq!(a.data, IdxData::U8(vec![1, 2, 3, 4, 5, 6]));
//! # Ok::<(), sparsekit_formats::FormatError>(())
//! ```

use std::io::Read;
use std::path::Path;

use crate::error::{checked_size, FormatError, Result};

const KIND: &str = "idx";
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The values of an IDX array, in the file's element type.
#[derive(Clone, Debug, PartialEq)]
pub enum IdxData {
    /// Type byte `0x08`: unsigned bytes.
    U8(Vec<u8>),
    /// Type byte `0x09`: signed bytes.
    I8(Vec<i8>),
    /// Type byte `0x0B`: 16-bit signed integers.
    I16(Vec<i16>),
    /// Type byte `0x0C`: 32-bit signed integers.
    I32(Vec<i32>),
    /// Type byte `0x0D`: 32-bit floats.
    F32(Vec<f32>),
    /// Type byte `0x0E`: 64-bit floats.
    F64(Vec<f64>),
}

impl IdxData {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }

    /// `true` when there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An IDX array: its shape (one entry per dimension) and its values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// Size of each dimension, outermost first; their product is `data.len()`.
    pub shape: Vec<usize>,
    /// The values, row-major, converted from big-endian to native.
    pub data: IdxData,
}

/// Reads the IDX file at `path` (gzip-compressed or not).
pub fn read(path: impl AsRef<Path>) -> Result<IdxArray> {
    read_bytes(&std::fs::read(path)?)
}

/// Parses IDX bytes (gzip-compressed or not). The declared shape must match the bytes present
/// exactly: a truncated file or trailing bytes are [`FormatError::Malformed`].
pub fn read_bytes(bytes: &[u8]) -> Result<IdxArray> {
    if bytes.starts_with(&GZIP_MAGIC) {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut raw)
            .map_err(|e| FormatError::malformed(KIND, format!("gzip: {e}")))?;
        return parse(&raw);
    }
    parse(bytes)
}

fn parse(b: &[u8]) -> Result<IdxArray> {
    if b.len() < 4 || b[0] != 0 || b[1] != 0 {
        return Err(FormatError::malformed(KIND, "not an IDX file (bad magic)"));
    }
    let (type_code, ndim) = (b[2], b[3] as usize);
    let item = match type_code {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        0x0E => 8,
        t => {
            return Err(FormatError::unsupported(
                KIND,
                format!("element type 0x{t:02x}"),
            ))
        }
    };
    let header = 4 + 4 * ndim;
    if b.len() < header {
        return Err(FormatError::malformed(KIND, "truncated header"));
    }
    let shape: Vec<usize> = b[4..header]
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize)
        .collect();
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| checked_size(n, d, "idx shape"))?;
    let body = &b[header..];
    let want = checked_size(count, item, "idx data")?;
    if body.len() != want {
        return Err(FormatError::malformed(
            KIND,
            format!(
                "shape {shape:?} needs {want} data bytes, the file has {}",
                body.len()
            ),
        ));
    }
    let data = match type_code {
        0x08 => IdxData::U8(body.to_vec()),
        0x09 => IdxData::I8(body.iter().map(|&v| v as i8).collect()),
        0x0B => IdxData::I16(be(body, i16::from_be_bytes)),
        0x0C => IdxData::I32(be(body, i32::from_be_bytes)),
        0x0D => IdxData::F32(be(body, f32::from_be_bytes)),
        _ => IdxData::F64(be(body, f64::from_be_bytes)),
    };
    Ok(IdxArray { shape, data })
}

/// Big-endian values of `N` bytes each (`body.len()` is a multiple of `N`, checked by the caller).
fn be<T, const N: usize>(body: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    body.chunks_exact(N)
        .map(|c| from(c.try_into().expect("chunks_exact yields N bytes")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(type_code: u8, shape: &[u32]) -> Vec<u8> {
        let mut b = vec![0, 0, type_code, shape.len() as u8];
        for d in shape {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b
    }

    fn gzip(b: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn every_type_plain_and_gzip() {
        let vals = [1.5f64, -2.25, 0.0, 1e300, -0.0, 3.0];
        let cases: Vec<(u8, Vec<u8>, IdxData)> = vec![
            (
                0x08,
                vec![0, 7, 255, 1, 2, 3],
                IdxData::U8(vec![0, 7, 255, 1, 2, 3]),
            ),
            (
                0x09,
                vec![0, 7, 255, 128, 2, 3],
                IdxData::I8(vec![0, 7, -1, -128, 2, 3]),
            ),
            (
                0x0B,
                [-300i16, 2, 0, i16::MAX, i16::MIN, 1]
                    .iter()
                    .flat_map(|v| v.to_be_bytes())
                    .collect(),
                IdxData::I16(vec![-300, 2, 0, i16::MAX, i16::MIN, 1]),
            ),
            (
                0x0C,
                [-70000i32, 2, 0, i32::MAX, i32::MIN, 1]
                    .iter()
                    .flat_map(|v| v.to_be_bytes())
                    .collect(),
                IdxData::I32(vec![-70000, 2, 0, i32::MAX, i32::MIN, 1]),
            ),
            (
                0x0D,
                vals.iter()
                    .flat_map(|&v| (v as f32).to_be_bytes())
                    .collect(),
                IdxData::F32(vals.iter().map(|&v| v as f32).collect()),
            ),
            (
                0x0E,
                vals.iter().flat_map(|v| v.to_be_bytes()).collect(),
                IdxData::F64(vals.to_vec()),
            ),
        ];
        for (t, body, want) in cases {
            let mut b = header(t, &[3, 2]);
            b.extend_from_slice(&body);
            for bytes in [b.clone(), gzip(&b)] {
                let a = read_bytes(&bytes).unwrap();
                assert_eq!(a.shape, vec![3, 2]);
                assert_eq!(a.data, want, "type 0x{t:02x}");
            }
        }
    }

    #[test]
    fn zero_sizes_and_scalars() {
        let a = read_bytes(&header(0x08, &[0, 784])).unwrap();
        assert_eq!((a.shape, a.data.len()), (vec![0, 784], 0));
        // No dimensions: one scalar value.
        let mut b = header(0x0C, &[]);
        b.extend_from_slice(&5i32.to_be_bytes());
        assert_eq!(read_bytes(&b).unwrap().data, IdxData::I32(vec![5]));
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let mut full = header(0x08, &[2, 2]);
        full.extend_from_slice(&[1, 2, 3, 4]);
        let malformed = |b: &[u8]| matches!(read_bytes(b), Err(FormatError::Malformed { .. }));
        for cut in 0..full.len() {
            assert!(malformed(&full[..cut]), "truncated at {cut}");
        }
        let mut extra = full.clone();
        extra.push(0);
        assert!(malformed(&extra));
        assert!(malformed(&[1, 0, 8, 1, 0, 0, 0, 0]));
        // A corrupt gzip stream.
        let mut gz = gzip(&full);
        gz.truncate(gz.len() / 2);
        assert!(malformed(&gz));
        assert!(matches!(
            read_bytes(&header(0x0A, &[1])),
            Err(FormatError::Unsupported { .. })
        ));
        // A declared shape whose size overflows is an error, not an allocation.
        assert!(matches!(
            read_bytes(&header(0x0E, &[u32::MAX, u32::MAX, u32::MAX])),
            Err(FormatError::ShapeOverflow(_) | FormatError::Malformed { .. })
        ));
    }
}
