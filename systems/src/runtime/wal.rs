//! An append-only file of JSON records, one per line, with optional fsync.
//!
//! A torn last line (the node was killed mid-write) is dropped on replay.
//! [`Wal::rewrite`] compacts the file atomically (temporary file + rename).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// When to call fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// After every append, before the write is acknowledged.
    Always,
    /// Never: data survives a process kill (page cache), not a power cut.
    Never,
}

/// An append-only JSON-lines log.
pub struct Wal {
    path: PathBuf,
    file: File,
    fsync: Fsync,
    records: usize,
}

impl Wal {
    /// Opens (or creates) the log at `path` and replays its records.
    pub fn open<T: DeserializeOwned>(path: &Path, fsync: Fsync) -> io::Result<(Wal, Vec<T>)> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut records = Vec::new();
        let mut good_len: u64 = 0;
        {
            let mut reader = BufReader::new(&mut file);
            let mut line = Vec::new();
            loop {
                line.clear();
                let n = reader.read_until(b'\n', &mut line)?;
                if n == 0 {
                    break;
                }
                if line.last() != Some(&b'\n') {
                    break; // torn tail
                }
                match serde_json::from_slice::<T>(&line[..n - 1]) {
                    Ok(r) => records.push(r),
                    Err(e) => {
                        if reader.fill_buf()?.is_empty() {
                            tracing::warn!(
                                "{}: dropping a bad last record at byte {good_len}: {e}",
                                path.display()
                            );
                            break;
                        }
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("{}: bad record at byte {good_len}: {e}", path.display()),
                        ));
                    }
                }
                good_len += n as u64;
            }
        }
        if file.metadata()?.len() != good_len {
            file.set_len(good_len)?;
        }
        file.seek(SeekFrom::End(0))?;
        let n = records.len();
        Ok((
            Wal {
                path: path.to_path_buf(),
                file,
                fsync,
                records: n,
            },
            records,
        ))
    }

    /// Number of records in the file.
    pub fn len(&self) -> usize {
        self.records
    }

    /// True when the file holds no record.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Appends records in one write, then fsyncs if configured.
    pub fn append<'a, T: Serialize + 'a>(
        &mut self,
        recs: impl IntoIterator<Item = &'a T>,
    ) -> io::Result<()> {
        let mut buf = Vec::new();
        for r in recs {
            serde_json::to_writer(&mut buf, r).map_err(io::Error::other)?;
            buf.push(b'\n');
            self.records += 1;
        }
        self.file.write_all(&buf)?;
        if self.fsync == Fsync::Always {
            self.file.sync_data()?;
        }
        Ok(())
    }

    /// Appends without fsync, whatever the policy (for hints that need no
    /// durability before the next synced append).
    pub fn append_lazy<T: Serialize>(&mut self, rec: &T) -> io::Result<()> {
        let mut buf = serde_json::to_vec(rec).map_err(io::Error::other)?;
        buf.push(b'\n');
        self.records += 1;
        self.file.write_all(&buf)
    }

    /// Replaces the whole file with `recs`, atomically.
    pub fn rewrite<'a, T: Serialize + 'a>(
        &mut self,
        recs: impl IntoIterator<Item = &'a T>,
    ) -> io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut f = File::create(&tmp)?;
        let mut buf = Vec::new();
        let mut n = 0;
        for r in recs {
            serde_json::to_writer(&mut buf, r).map_err(io::Error::other)?;
            buf.push(b'\n');
            n += 1;
        }
        f.write_all(&buf)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.records = n;
        Ok(())
    }
}

/// Writes a small JSON document atomically (temporary file, fsync, rename).
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(value).map_err(io::Error::other)?)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

/// Reads a JSON document written by [`write_json_atomic`], if present.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).map_err(io::Error::other)?)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("faultline-wal-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replays_and_drops_torn_tail() {
        let d = tmpdir("torn");
        let p = d.join("log");
        {
            let (mut w, recs) = Wal::open::<u32>(&p, Fsync::Always).unwrap();
            assert!(recs.is_empty());
            w.append([1u32, 2, 3].iter()).unwrap();
        }
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"4").unwrap(); // torn: no newline
        drop(f);
        let (mut w, recs) = Wal::open::<u32>(&p, Fsync::Never).unwrap();
        assert_eq!(recs, vec![1, 2, 3]);
        w.append([5u32].iter()).unwrap();
        w.rewrite([7u32, 8].iter()).unwrap();
        w.append([9u32].iter()).unwrap();
        drop(w);
        let (_, recs) = Wal::open::<u32>(&p, Fsync::Never).unwrap();
        assert_eq!(recs, vec![7, 8, 9]);
        let _ = fs::remove_dir_all(&d);
    }
}
