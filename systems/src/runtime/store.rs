//! Versioned key-value storage under the shared primary–backup replication
//! ([`super::primary`]: kv's and queue's `primary-async`) and kv's quorum and
//! gossip levels: a map of last-writer-wins values persisted in a
//! write-ahead log, compacted when it grows.

use std::collections::HashMap;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::runtime::wal::{Fsync, Wal};

/// A value with its version: wall-clock microseconds and the writer's id
/// (the tie-breaker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned {
    pub value: Value,
    pub ts: u64,
    pub node: String,
}

impl Versioned {
    /// Last-writer-wins order: timestamp, then node id.
    pub fn newer_than(&self, other: &Versioned) -> bool {
        (self.ts, &self.node) > (other.ts, &other.node)
    }
}

#[derive(Serialize, Deserialize)]
enum Rec {
    Put { k: String, v: Versioned },
    Clear,
    Meta { m: Value },
}

/// The map plus its log.
pub struct VersionedStore {
    map: HashMap<String, Versioned>,
    meta: Value,
    wal: Wal,
    /// Number of writes applied since start (for `/status`).
    pub applied: u64,
}

impl VersionedStore {
    pub fn open(dir: &Path, fsync: Fsync) -> io::Result<VersionedStore> {
        let (wal, recs) = Wal::open::<Rec>(&dir.join("kv.jsonl"), fsync)?;
        let mut map = HashMap::new();
        let mut meta = Value::Null;
        for r in recs {
            match r {
                Rec::Put { k, v } => {
                    map.insert(k, v);
                }
                Rec::Clear => map.clear(),
                Rec::Meta { m } => meta = m,
            }
        }
        tracing::info!("store {}: {} keys", dir.display(), map.len());
        Ok(VersionedStore {
            map,
            meta,
            wal,
            applied: 0,
        })
    }

    pub fn get(&self, key: &str) -> Option<&Versioned> {
        self.map.get(key)
    }

    /// The current value, `null` when absent.
    pub fn value(&self, key: &str) -> Value {
        self.map
            .get(key)
            .map(|v| v.value.clone())
            .unwrap_or(Value::Null)
    }

    pub fn entries(&self) -> impl Iterator<Item = (&String, &Versioned)> {
        self.map.iter()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Level-specific metadata (e.g. primary-async epoch), persisted.
    pub fn meta(&self) -> &Value {
        &self.meta
    }

    pub fn set_meta(&mut self, m: Value) -> io::Result<()> {
        self.wal.append([&Rec::Meta { m: m.clone() }])?;
        self.meta = m;
        Ok(())
    }

    /// Stores `v` unconditionally.
    pub fn put(&mut self, key: &str, v: Versioned) -> io::Result<()> {
        let rec = Rec::Put {
            k: key.to_string(),
            v,
        };
        self.wal.append([&rec])?;
        let Rec::Put { k, v } = rec else {
            unreachable!()
        };
        self.map.insert(k, v);
        self.applied += 1;
        self.maybe_compact()
    }

    /// Stores every entry that is newer than what is held (last writer
    /// wins), in one log write. Returns how many were applied.
    pub fn merge(&mut self, entries: Vec<(String, Versioned)>) -> io::Result<usize> {
        let recs: Vec<Rec> = entries
            .into_iter()
            .filter(|(k, v)| self.map.get(k).is_none_or(|cur| v.newer_than(cur)))
            .map(|(k, v)| Rec::Put { k, v })
            .collect();
        if recs.is_empty() {
            return Ok(0);
        }
        self.wal.append(recs.iter())?;
        let n = recs.len();
        for r in recs {
            if let Rec::Put { k, v } = r {
                self.map.insert(k, v);
            }
        }
        self.applied += n as u64;
        self.maybe_compact()?;
        Ok(n)
    }

    /// Stores every entry unconditionally, in one log write.
    pub fn put_all(&mut self, entries: Vec<(String, Versioned)>) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let recs: Vec<Rec> = entries
            .into_iter()
            .map(|(k, v)| Rec::Put { k, v })
            .collect();
        self.wal.append(recs.iter())?;
        self.applied += recs.len() as u64;
        for r in recs {
            if let Rec::Put { k, v } = r {
                self.map.insert(k, v);
            }
        }
        self.maybe_compact()
    }

    /// Replaces the whole map.
    pub fn replace_all(&mut self, map: HashMap<String, Versioned>) -> io::Result<()> {
        self.map = map;
        self.applied += 1;
        self.compact()
    }

    fn maybe_compact(&mut self) -> io::Result<()> {
        if self.wal.len() > 50_000 && self.wal.len() > 4 * self.map.len() {
            self.compact()?;
        }
        Ok(())
    }

    fn compact(&mut self) -> io::Result<()> {
        let mut recs = vec![Rec::Meta {
            m: self.meta.clone(),
        }];
        recs.extend(self.map.iter().map(|(k, v)| Rec::Put {
            k: k.clone(),
            v: v.clone(),
        }));
        self.wal.rewrite(recs.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(value: i64, ts: u64, node: &str) -> Versioned {
        Versioned {
            value: json!(value),
            ts,
            node: node.into(),
        }
    }

    #[test]
    fn lww_merge_and_persistence() {
        let d = std::env::temp_dir().join(format!("faultline-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        {
            let mut s = VersionedStore::open(&d, Fsync::Never).unwrap();
            s.put("a", v(1, 10, "n1")).unwrap();
            assert_eq!(s.merge(vec![("a".into(), v(2, 5, "n2"))]).unwrap(), 0);
            assert_eq!(s.merge(vec![("a".into(), v(3, 10, "n2"))]).unwrap(), 1);
            s.set_meta(json!({"epoch": 4})).unwrap();
        }
        let s = VersionedStore::open(&d, Fsync::Never).unwrap();
        assert_eq!(s.value("a"), json!(3));
        assert_eq!(s.meta()["epoch"], 4);
        let _ = std::fs::remove_dir_all(&d);
    }
}
