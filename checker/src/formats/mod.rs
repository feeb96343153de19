//! History readers: faultline JSONL, Jepsen EDN, Porcupine's etcd and kv logs.

use crate::history::{History, InputError};
use std::path::Path;

/// The history formats faultline reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jsonl,
    Edn,
    PorcupineEtcd,
    PorcupineKv,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Edn => "edn",
            Format::PorcupineEtcd => "porcupine-etcd",
            Format::PorcupineKv => "porcupine-kv",
        }
    }
    pub fn parse_name(s: &str) -> Option<Format> {
        match s {
            "jsonl" => Some(Format::Jsonl),
            "edn" => Some(Format::Edn),
            "porcupine-etcd" => Some(Format::PorcupineEtcd),
            "porcupine-kv" => Some(Format::PorcupineKv),
            _ => None,
        }
    }
}

/// Guesses the format from the content.
pub fn detect(_bytes: &[u8]) -> Format {
    todo!("formats helper")
}

/// Parses a history from bytes; `source` names it in errors.
pub fn parse(_bytes: &[u8], _source: &str, _format: Option<Format>) -> Result<History, InputError> {
    todo!("formats helper")
}

/// Reads and parses a file.
pub fn read_file(path: &Path, format: Option<Format>) -> Result<(History, Format), InputError> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| InputError::new(&source, 0, None, format!("cannot read: {e}")))?;
    let fmt = format.unwrap_or_else(|| detect(&bytes));
    Ok((parse(&bytes, &source, Some(fmt))?, fmt))
}
