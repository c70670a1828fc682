//! Byte sizes as operators write them: `1MiB`, `2GiB`, `500MB` or a plain number of bytes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A number of bytes, read from text with an optional binary or decimal unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

const UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("pib", 1 << 50),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
    ("pb", 1_000_000_000_000_000),
];

/// Why a text is not a size; prints as one line naming the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("invalid size '{0}': expected a number such as 2GiB")]
    NoNumber(String),
    #[error("invalid size '{0}': unknown unit '{1}'")]
    UnknownUnit(String, String),
    #[error("invalid size '{0}': out of range")]
    OutOfRange(String),
}

impl FromStr for ByteSize {
    type Err = SizeError;
    fn from_str(s: &str) -> Result<Self, SizeError> {
        let text = s.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let unit = unit.trim().to_ascii_lowercase();
        // The number first: "lots" or "-1GiB" lack a number, not a unit.
        let value: f64 = number
            .parse()
            .map_err(|_| SizeError::NoNumber(s.to_owned()))?;
        let multiplier = if unit.is_empty() {
            1
        } else {
            UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, m)| *m)
                .ok_or_else(|| SizeError::UnknownUnit(s.to_owned(), unit.clone()))?
        };
        let bytes = value * multiplier as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(SizeError::OutOfRange(s.to_owned()));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        for (name, m) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if v >= m {
                return write!(f, "{:.1} {name}", v as f64 / m as f64);
            }
        }
        write!(f, "{v} B")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_operators_write() {
        let check = |text: &str, expected: Result<u64, &str>| {
            let got = text.parse::<ByteSize>().map(|b| b.0);
            match expected {
                Ok(n) => assert_eq!(got, Ok(n), "{text}"),
                Err(part) => assert!(got.unwrap_err().to_string().contains(part), "{text}"),
            }
        };
        check("1048576", Ok(1 << 20));
        check("1MiB", Ok(1 << 20));
        check("2GiB", Ok(2 << 30));
        check("2 gib", Ok(2 << 30));
        check("1.5KiB", Ok(1536));
        check("500MB", Ok(500_000_000));
        check("10XB", Err("unknown unit 'xb'"));
        check("lots", Err("expected a number"));
        check("-1GiB", Err("expected a number"));
        check("99999999999PiB", Err("out of range"));
    }
}
