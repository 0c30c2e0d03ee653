//! A minimal CBOR (RFC 8949) reader for the metadata of burn's optimizer records: definite
//! lengths only (what serde's CBOR writer emits for the record's structs and maps), bounded
//! nesting, every length checked against the bytes left. Never panics on malformed input.

/// A decoded CBOR item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cbor {
    UInt(u64),
    NegInt(u64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Cbor>),
    Map(Vec<(Cbor, Cbor)>),
    Tag(u64, Box<Cbor>),
    Simple(u8),
    Float(f64),
}

impl Cbor {
    /// The value under text key `key` of a map.
    pub(crate) fn get(&self, key: &str) -> Option<&Cbor> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_text() == Some(key))
            .map(|(_, v)| v)
    }
    pub(crate) fn as_map(&self) -> Option<&[(Cbor, Cbor)]> {
        match self {
            Cbor::Map(m) => Some(m),
            _ => None,
        }
    }
    pub(crate) fn as_array(&self) -> Option<&[Cbor]> {
        match self {
            Cbor::Array(a) => Some(a),
            _ => None,
        }
    }
    pub(crate) fn as_text(&self) -> Option<&str> {
        match self {
            Cbor::Text(s) => Some(s),
            _ => None,
        }
    }
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Cbor::UInt(v) => Some(*v),
            _ => None,
        }
    }
}

const MAX_DEPTH: usize = 64;

/// Decodes one item that must span all of `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> Result<Cbor, String> {
    let mut pos = 0;
    let item = item(bytes, &mut pos, 0)?;
    if pos != bytes.len() {
        return Err(format!(
            "{} trailing bytes after the CBOR item",
            bytes.len() - pos
        ));
    }
    Ok(item)
}

fn take<'a>(bytes: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], String> {
    let end = pos
        .checked_add(n)
        .filter(|&e| e <= bytes.len())
        .ok_or("CBOR item runs past the end")?;
    let s = &bytes[*pos..end];
    *pos = end;
    Ok(s)
}

/// The argument of a head with additional information `ai`.
fn argument(bytes: &[u8], pos: &mut usize, ai: u8) -> Result<u64, String> {
    let n = match ai {
        0..=23 => return Ok(ai as u64),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return Err(format!("unsupported CBOR length encoding {ai}")),
    };
    Ok(take(bytes, pos, n)?
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | b as u64))
}

/// A count of items that must each take at least one byte of what is left.
fn count(bytes: &[u8], pos: usize, n: u64) -> Result<usize, String> {
    if n > (bytes.len() - pos) as u64 {
        return Err("CBOR count exceeds the remaining bytes".into());
    }
    Ok(n as usize)
}

fn item(bytes: &[u8], pos: &mut usize, depth: usize) -> Result<Cbor, String> {
    if depth > MAX_DEPTH {
        return Err("CBOR nesting too deep".into());
    }
    let head = take(bytes, pos, 1)?[0];
    let (major, ai) = (head >> 5, head & 0x1f);
    if major == 7 {
        return match ai {
            0..=23 => Ok(Cbor::Simple(ai)),
            24 => Ok(Cbor::Simple(take(bytes, pos, 1)?[0])),
            25 => {
                let b = take(bytes, pos, 2)?;
                Ok(Cbor::Float(f16_to_f64(u16::from_be_bytes([b[0], b[1]]))))
            }
            26 => {
                let b = take(bytes, pos, 4)?;
                Ok(Cbor::Float(
                    f32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f64
                ))
            }
            27 => {
                let b = take(bytes, pos, 8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Ok(Cbor::Float(f64::from_be_bytes(a)))
            }
            _ => Err(format!("unsupported CBOR simple/float encoding {ai}")),
        };
    }
    let arg = argument(bytes, pos, ai)?;
    Ok(match major {
        0 => Cbor::UInt(arg),
        1 => Cbor::NegInt(arg),
        2 => Cbor::Bytes(take(bytes, pos, count(bytes, *pos, arg)?)?.to_vec()),
        3 => {
            let s = take(bytes, pos, count(bytes, *pos, arg)?)?;
            Cbor::Text(String::from_utf8(s.to_vec()).map_err(|_| "CBOR text is not UTF-8")?)
        }
        4 => {
            let n = count(bytes, *pos, arg)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(item(bytes, pos, depth + 1)?);
            }
            Cbor::Array(v)
        }
        5 => {
            let n = count(bytes, *pos, arg)?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let k = item(bytes, pos, depth + 1)?;
                v.push((k, item(bytes, pos, depth + 1)?));
            }
            Cbor::Map(v)
        }
        // 6 (7 is handled above; the major type has 3 bits).
        _ => Cbor::Tag(arg, Box::new(item(bytes, pos, depth + 1)?)),
    })
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let mant = (h & 0x3ff) as f64;
    sign * match exp {
        0 => mant * 2f64.powi(-24),
        31 if mant == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        _ => (1.0 + mant / 1024.0) * 2f64.powi(exp - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_maps_arrays_text_and_rejects_garbage() {
        // {"a": [1, 500], "b": "F32", "c": -2, "d": 1.5f32, "e": true}
        let bytes = [
            0xa5, 0x61, b'a', 0x82, 0x01, 0x19, 0x01, 0xf4, 0x61, b'b', 0x63, b'F', b'3', b'2',
            0x61, b'c', 0x21, 0x61, b'd', 0xfa, 0x3f, 0xc0, 0x00, 0x00, 0x61, b'e', 0xf5,
        ];
        let v = decode(&bytes).unwrap();
        assert_eq!(
            v.get("a").unwrap().as_array().unwrap(),
            &[Cbor::UInt(1), Cbor::UInt(500)]
        );
        assert_eq!(v.get("b").unwrap().as_text(), Some("F32"));
        assert_eq!(v.get("c"), Some(&Cbor::NegInt(1)));
        assert_eq!(v.get("d"), Some(&Cbor::Float(1.5)));
        assert_eq!(v.get("e"), Some(&Cbor::Simple(21)));
        assert!(v.get("z").is_none());
        // Truncations, huge counts, indefinite lengths and trailing bytes are errors.
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err());
        }
        assert!(decode(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(decode(&[0x9f, 0x01, 0xff]).is_err());
        assert!(decode(&[0x01, 0x01]).is_err());
        assert!(decode(&[0x81; 200]).is_err()); // too deep
        assert_eq!(decode(&[0xf9, 0x3c, 0x00]).unwrap(), Cbor::Float(1.0));
    }
}
