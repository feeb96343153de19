//! Wall-clock faults through libfaketime.
//!
//! Each node is started with libfaketime preloaded and its own timestamp
//! file (see [`ClockControl::env_for`]); the nemesis rewrites the file to
//! move that node's wall clock. Only the wall clock moves
//! (`FAKETIME_DONT_FAKE_MONOTONIC=1`), as with a real clock step; the file
//! is re-read on every clock call (`FAKETIME_NO_CACHE=1`), so a change takes
//! effect at the node's next `clock_gettime(CLOCK_REALTIME)`.
//!
//! Verified with libfaketime 0.9.10 (Debian 0.9.10-2.1): offsets written as
//! `+S.mmm` / `-S.mmm` take effect immediately in a running process with
//! `FAKETIME_NO_CACHE=1` (without it, the default 10 s cache hides changes;
//! `FAKETIME_CACHE_DURATION=1` gives up to 1 s lag); `CLOCK_MONOTONIC` is
//! unaffected. A missing or empty file means "no offset". Known limitation
//! of this version: with `FAKETIME_DONT_FAKE_MONOTONIC=1`, an absolute
//! `clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)` fails with `EINVAL`
//! (Python 3.11's `time.sleep` uses it). Rust `std`/tokio programs
//! (relative `nanosleep`, futexes, `epoll_wait`) are fine. Statically linked
//! binaries and Go binaries (raw syscalls / vDSO) ignore `LD_PRELOAD`; see
//! [`preload_support`].

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::NodeId;

/// Environment variable that overrides where [`find_libfaketime`] looks.
pub const LIBFAKETIME_ENV: &str = "FAULTLINE_LIBFAKETIME";

/// Errors from clock control.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("libfaketime not found (install the `libfaketime` package, e.g. scripts/install-deps.sh, or set {LIBFAKETIME_ENV})")]
    LibfaketimeNotFound,
    #[error("unknown node `{0}` (no clock file for it)")]
    UnknownNode(NodeId),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

/// Locate `libfaketime.so.1`: `$FAULTLINE_LIBFAKETIME` if it names an
/// existing file (`none` says there is none to use), else the Debian/Ubuntu
/// multiarch directories (`/usr/lib/<triplet>/faketime/`), else other usual
/// prefixes.
pub fn find_libfaketime() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(LIBFAKETIME_ENV) {
        if p == "none" {
            return None;
        }
        let p = PathBuf::from(p);
        if p.is_file() {
            return Some(p);
        }
    }
    let mut candidates: Vec<PathBuf> = vec![
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1".into(),
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1".into(),
    ];
    if let Ok(rd) = fs::read_dir("/usr/lib") {
        let mut dirs: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        dirs.sort();
        for d in dirs {
            candidates.push(d.join("faketime/libfaketime.so.1"));
        }
    }
    for p in [
        "/usr/lib/faketime/libfaketime.so.1",
        "/usr/lib64/faketime/libfaketime.so.1",
        "/usr/local/lib/faketime/libfaketime.so.1",
        "/usr/lib/libfaketime.so.1",
        "/usr/local/lib/libfaketime.so.1",
    ] {
        candidates.push(p.into());
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// Whether a binary can have its clock shifted by `LD_PRELOAD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PreloadSupport {
    /// Dynamically linked ELF, not Go: libfaketime applies.
    Dynamic,
    /// Statically linked: the dynamic loader never runs, preload ignored.
    Static,
    /// A Go binary: reads the clock through the vDSO/raw syscalls.
    Go,
    /// Not an ELF executable (a script: judge its interpreter instead).
    NotElf,
}

/// Inspect `binary` (ELF header and program headers, plus Go's build-info
/// marker) to tell whether libfaketime can shift its clock. The harness
/// should refuse clock faults for anything but [`PreloadSupport::Dynamic`].
pub fn preload_support(binary: &Path) -> io::Result<PreloadSupport> {
    let data = fs::read(binary)?;
    if data.len() < 64 || &data[..4] != b"\x7fELF" {
        return Ok(PreloadSupport::NotElf);
    }
    let le = data[5] == 1;
    let is64 = data[4] == 2;
    let rd = |off: usize, len: usize| -> u64 {
        let b = &data[off..off + len];
        let mut v = 0u64;
        for i in 0..len {
            let byte = if le { b[len - 1 - i] } else { b[i] };
            v = (v << 8) | byte as u64;
        }
        v
    };
    let (phoff, phentsize, phnum) = if is64 {
        (
            rd(0x20, 8) as usize,
            rd(0x36, 2) as usize,
            rd(0x38, 2) as usize,
        )
    } else {
        (
            rd(0x1C, 4) as usize,
            rd(0x2A, 2) as usize,
            rd(0x2C, 2) as usize,
        )
    };
    // Go: a `.go.buildinfo` section, found by its name in the section
    // header table (not by scanning the bytes for Go's marker, which any
    // program that looks for it, this one included, holds as a constant).
    let (shoff, shentsize, shnum, shstrndx) = if is64 {
        (
            rd(0x28, 8) as usize,
            rd(0x3A, 2) as usize,
            rd(0x3C, 2) as usize,
            rd(0x3E, 2) as usize,
        )
    } else {
        (
            rd(0x20, 4) as usize,
            rd(0x2E, 2) as usize,
            rd(0x30, 2) as usize,
            rd(0x32, 2) as usize,
        )
    };
    let section = |i: usize| -> Option<(usize, usize, usize)> {
        // (name offset, file offset, size)
        let off = shoff.checked_add(i.checked_mul(shentsize)?)?;
        let end = off.checked_add(if is64 { 0x28 } else { 0x18 })?;
        if shentsize == 0 || end > data.len() {
            return None;
        }
        Some(if is64 {
            (
                rd(off, 4) as usize,
                rd(off + 0x18, 8) as usize,
                rd(off + 0x20, 8) as usize,
            )
        } else {
            (
                rd(off, 4) as usize,
                rd(off + 0x10, 4) as usize,
                rd(off + 0x14, 4) as usize,
            )
        })
    };
    if let Some((_, stroff, strsize)) = section(shstrndx) {
        let strtab = data.get(stroff..stroff.saturating_add(strsize).min(data.len()));
        for i in 0..shnum {
            let (Some(tab), Some((name, _, _))) = (strtab, section(i)) else {
                continue;
            };
            let name = tab.get(name..).unwrap_or_default();
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name == b".go.buildinfo" {
                return Ok(PreloadSupport::Go);
            }
        }
    }
    for i in 0..phnum {
        let off = phoff + i * phentsize;
        if off + 4 > data.len() {
            break;
        }
        if rd(off, 4) == 3 {
            // PT_INTERP: has a dynamic loader.
            return Ok(PreloadSupport::Dynamic);
        }
    }
    Ok(PreloadSupport::Static)
}

/// Format an offset in milliseconds the way libfaketime's timestamp file
/// wants it: `+S.mmm` or `-S.mmm`.
pub fn format_offset(offset_ms: i64) -> String {
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let a = offset_ms.unsigned_abs();
    format!("{sign}{}.{:03}", a / 1000, a % 1000)
}

/// Per-node wall-clock offsets, applied through libfaketime timestamp files.
#[derive(Debug)]
pub struct ClockControl {
    dir: PathBuf,
    lib: PathBuf,
    files: BTreeMap<NodeId, PathBuf>,
    offsets: Mutex<BTreeMap<NodeId, i64>>,
}

impl ClockControl {
    /// Create `dir` and one timestamp file per node holding `+0`, using the
    /// libfaketime found by [`find_libfaketime`].
    pub fn new<I, S>(dir: impl Into<PathBuf>, nodes: I) -> Result<Self, ClockError>
    where
        I: IntoIterator<Item = S>,
        S: Into<NodeId>,
    {
        let lib = find_libfaketime().ok_or(ClockError::LibfaketimeNotFound)?;
        Self::with_library(dir, nodes, lib)
    }

    /// [`ClockControl::new`] with an explicit library path.
    pub fn with_library<I, S>(
        dir: impl Into<PathBuf>,
        nodes: I,
        lib: impl Into<PathBuf>,
    ) -> Result<Self, ClockError>
    where
        I: IntoIterator<Item = S>,
        S: Into<NodeId>,
    {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| ClockError::Io {
            action: "creating clock directory",
            path: dir.clone(),
            source,
        })?;
        let mut files = BTreeMap::new();
        let mut offsets = BTreeMap::new();
        for n in nodes {
            let n: NodeId = n.into();
            let file = dir.join(format!("{n}.faketime"));
            write_atomic(&file, &format_offset(0))?;
            files.insert(n.clone(), file);
            offsets.insert(n, 0);
        }
        Ok(ClockControl {
            dir,
            lib: lib.into(),
            files,
            offsets: Mutex::new(offsets),
        })
    }

    /// The directory holding the timestamp files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The libfaketime library preloaded into nodes.
    pub fn library(&self) -> &Path {
        &self.lib
    }

    /// The node's timestamp file.
    pub fn timestamp_file(&self, node: &str) -> Option<&Path> {
        self.files.get(node).map(PathBuf::as_path)
    }

    /// Environment to start `node` with (add these to its command):
    /// `LD_PRELOAD`, `FAKETIME_TIMESTAMP_FILE`, `FAKETIME_NO_CACHE=1`,
    /// `FAKETIME_DONT_FAKE_MONOTONIC=1`. If the node already needs an
    /// `LD_PRELOAD`, the caller must join them with `:`.
    pub fn env_for(&self, node: &str) -> Result<Vec<(String, String)>, ClockError> {
        let file = self.file(node)?;
        Ok(vec![
            ("LD_PRELOAD".into(), self.lib.display().to_string()),
            ("FAKETIME_TIMESTAMP_FILE".into(), file.display().to_string()),
            ("FAKETIME_NO_CACHE".into(), "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ])
    }

    /// Set `node`'s wall-clock offset from real time, in milliseconds.
    pub fn set_offset(&self, node: &str, offset_ms: i64) -> Result<(), ClockError> {
        let file = self.file(node)?;
        let mut offs = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
        write_atomic(file, &format_offset(offset_ms))?;
        offs.insert(node.to_string(), offset_ms);
        tracing::info!(%node, offset_ms, "clock offset set");
        Ok(())
    }

    /// Jump `node`'s wall clock by `delta_ms` (forward if positive) relative
    /// to its current offset, like Jepsen's `bump-time`. Returns the new
    /// offset.
    pub fn bump(&self, node: &str, delta_ms: i64) -> Result<i64, ClockError> {
        let file = self.file(node)?;
        let mut offs = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
        let new = offs
            .get(node)
            .copied()
            .unwrap_or(0)
            .saturating_add(delta_ms);
        write_atomic(file, &format_offset(new))?;
        offs.insert(node.to_string(), new);
        tracing::info!(%node, delta_ms, offset_ms = new, "clock bumped");
        Ok(new)
    }

    /// Put `node`'s clock back to real time.
    pub fn reset(&self, node: &str) -> Result<(), ClockError> {
        self.set_offset(node, 0)
    }

    /// Reset every node (the final heal). Tries every node; returns the
    /// first error.
    pub fn reset_all(&self) -> Result<(), ClockError> {
        let mut first = None;
        for n in self.files.keys() {
            if let Err(e) = self.reset(n) {
                tracing::warn!(node = %n, error = %e, "clock reset failed");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// `node`'s current offset in milliseconds.
    pub fn offset(&self, node: &str) -> Option<i64> {
        self.offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(node)
            .copied()
    }

    /// Every node's current offset (for the history record and plots).
    pub fn offsets(&self) -> BTreeMap<NodeId, i64> {
        self.offsets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Strobe: for `duration`, flip `node`'s clock between its current
    /// offset + `delta_ms` and its current offset every `period_ms`; then
    /// leave it at the offset it had before. Returns the number of flips.
    pub async fn strobe(
        &self,
        node: &str,
        delta_ms: i64,
        period_ms: u64,
        duration: Duration,
    ) -> Result<u64, ClockError> {
        let base = self
            .offset(node)
            .ok_or_else(|| ClockError::UnknownNode(node.to_string()))?;
        let period = Duration::from_millis(period_ms.max(1));
        let end = tokio::time::Instant::now() + duration;
        let mut flips = 0u64;
        let mut up = false;
        let result = loop {
            if tokio::time::Instant::now() >= end {
                break Ok(());
            }
            up = !up;
            let target = if up { base + delta_ms } else { base };
            if let Err(e) = self.set_offset(node, target) {
                break Err(e);
            }
            flips += 1;
            tokio::time::sleep(
                period.min(end.saturating_duration_since(tokio::time::Instant::now())),
            )
            .await;
        };
        let restore = self.set_offset(node, base);
        result.and(restore).map(|()| flips)
    }

    fn file(&self, node: &str) -> Result<&Path, ClockError> {
        self.files
            .get(node)
            .map(PathBuf::as_path)
            .ok_or_else(|| ClockError::UnknownNode(node.to_string()))
    }
}

/// Write via a temporary file and rename, so a reader never sees a torn or
/// empty file (libfaketime treats an empty file as "no offset").
fn write_atomic(path: &Path, contents: &str) -> Result<(), ClockError> {
    let tmp = path.with_extension("faketime.tmp");
    fs::write(&tmp, format!("{contents}\n")).map_err(|source| ClockError::Io {
        action: "writing clock file",
        path: tmp.clone(),
        source,
    })?;
    fs::rename(&tmp, path).map_err(|source| ClockError::Io {
        action: "renaming clock file into place",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_format_for_libfaketime() {
        assert_eq!(format_offset(0), "+0.000");
        assert_eq!(format_offset(1500), "+1.500");
        assert_eq!(format_offset(-250), "-0.250");
        assert_eq!(format_offset(-90_000), "-90.000");
    }

    #[test]
    fn files_and_offsets_without_a_real_library() {
        let dir = std::env::temp_dir().join(format!("nemesis-clock-unit-{}", std::process::id()));
        let c = ClockControl::with_library(&dir, ["n1", "n2"], "/nonexistent/libfaketime.so.1")
            .unwrap();
        let f1 = c.timestamp_file("n1").unwrap().to_path_buf();
        assert_eq!(fs::read_to_string(&f1).unwrap().trim(), "+0.000");
        assert_eq!(c.bump("n1", 1500).unwrap(), 1500);
        assert_eq!(c.bump("n1", -2000).unwrap(), -500);
        assert_eq!(fs::read_to_string(&f1).unwrap().trim(), "-0.500");
        assert_eq!(c.offset("n1"), Some(-500));
        assert_eq!(c.offsets()["n2"], 0);
        c.reset_all().unwrap();
        assert_eq!(c.offset("n1"), Some(0));
        assert!(matches!(c.bump("n9", 1), Err(ClockError::UnknownNode(_))));
        let env: BTreeMap<String, String> = c.env_for("n2").unwrap().into_iter().collect();
        assert_eq!(env["FAKETIME_NO_CACHE"], "1");
        assert_eq!(env["FAKETIME_DONT_FAKE_MONOTONIC"], "1");
        assert!(env["FAKETIME_TIMESTAMP_FILE"].ends_with("n2.faketime"));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn preload_support_of_known_binaries() {
        let me = std::env::current_exe().unwrap();
        // Test binaries are dynamically linked against glibc on Linux.
        assert_eq!(preload_support(&me).unwrap(), PreloadSupport::Dynamic);
        // A Go binary (etcd's, when installed) is told by its section, not
        // by Go's marker bytes, which this test binary holds too.
        for go in ["/usr/bin/etcd", "/usr/bin/etcdctl"] {
            if Path::new(go).exists() {
                assert_eq!(preload_support(Path::new(go)).unwrap(), PreloadSupport::Go);
            }
        }
        let script = std::env::temp_dir().join(format!("nemesis-script-{}", std::process::id()));
        fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
        assert_eq!(preload_support(&script).unwrap(), PreloadSupport::NotElf);
        let _ = fs::remove_file(&script);
    }
}
