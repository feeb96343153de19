//! The progress line of a run.

use super::store::Recorder;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Progress: a live line on a terminal, a plain line every 10 s otherwise.
pub async fn progress(
    recorder: Arc<Recorder>,
    time_limit: f64,
    mut done: watch::Receiver<bool>,
    online: Option<Arc<std::sync::Mutex<super::online::OnlineStatus>>>,
    prefix: Option<Arc<std::sync::Mutex<super::online_prefix::PrefixStatus>>>,
) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(10)
    };
    let mut last = (Instant::now(), 0u64);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = done.wait_for(|d| *d) => break,
        }
        let c = recorder.counts();
        let now = Instant::now();
        let rate = (c.invokes - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
        last = (now, c.invokes);
        let elapsed = recorder.elapsed().as_secs_f64();
        let faults: Vec<String> = c
            .active_faults
            .iter()
            .map(|(k, v)| format!("{k} {}", v.join(",")))
            .collect();
        // The online check: keys checked, and the first anomaly once found.
        let checked = online.as_ref().map(|o| {
            let o = o.lock().unwrap_or_else(|p| p.into_inner());
            match &o.first {
                Some(f) => format!(
                    "  checked {} keys, INVALID key {} at {:.1} s: {} {}",
                    o.keys_checked, f.key, f.seconds, f.checker, f.kind
                ),
                None => format!("  checked {} keys", o.keys_checked),
            }
        });
        // The prefix pass: each checker's last verdict, the first anomaly.
        let prefixed = prefix.as_ref().map(|p| {
            let p = p.lock().unwrap_or_else(|p| p.into_inner());
            let each: Vec<String> = p
                .checkers
                .iter()
                .map(|(n, c)| format!("{n} {}", c.verdict))
                .collect();
            match &p.first {
                Some(f) => format!(
                    "  online: {}; INVALID at {:.1} s: {} {}",
                    each.join(", "),
                    f.seconds,
                    f.checker,
                    f.kind
                ),
                None if each.is_empty() => "  online: not checked yet".to_string(),
                None => format!("  online: {}", each.join(", ")),
            }
        });
        let line = format!(
            "[{elapsed:6.1} s] {rate:6.0} ops/s  ok {} fail {} info {}{}{}  faults: {}  {}",
            c.ok,
            c.fail,
            c.info,
            checked.unwrap_or_default(),
            prefixed.unwrap_or_default(),
            if faults.is_empty() {
                "none".to_string()
            } else {
                faults.join("; ")
            },
            if elapsed < time_limit {
                format!("ETA {:.0} s", time_limit - elapsed)
            } else {
                "final phase".to_string()
            }
        );
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
    if tty {
        let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
    }
}
