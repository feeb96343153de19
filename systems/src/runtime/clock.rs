//! Wall clock read through the C library, so that libfaketime can move it.
//!
//! Every wall-clock read in the bundled systems (LWW timestamps, leases) goes
//! through [`wall_micros`]. Monotonic time (timeouts, heartbeats) uses
//! `std::time::Instant`, which libfaketime leaves alone unless told.

use std::sync::atomic::{AtomicI64, Ordering};

/// Extra offset in milliseconds added to every wall-clock read. Set from
/// `--clock-offset-ms` or the debug endpoint; a test aid for machines
/// without libfaketime.
static OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Sets the test offset added to every wall-clock read.
pub fn set_offset_ms(ms: i64) {
    OFFSET_MS.store(ms, Ordering::SeqCst);
}

/// The current test offset.
pub fn offset_ms() -> i64 {
    OFFSET_MS.load(Ordering::SeqCst)
}

/// Wall-clock time in microseconds since the Unix epoch, via
/// `clock_gettime(CLOCK_REALTIME)` plus the test offset.
pub fn wall_micros() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always exists.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    // `time_t` and `c_long` are i64 on the 64-bit targets we run on.
    #[allow(clippy::useless_conversion)]
    let micros = if rc == 0 {
        i64::from(ts.tv_sec) * 1_000_000 + i64::from(ts.tv_nsec) / 1_000
    } else {
        0
    };
    let v = micros + offset_ms() * 1_000;
    v.max(0) as u64
}

/// Wall-clock time in milliseconds since the Unix epoch.
pub fn wall_millis() -> u64 {
    wall_micros() / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_clock_is_plausible_and_offset_applies() {
        let a = wall_millis();
        assert!(a > 1_600_000_000_000, "clock reads {a}");
        // Offsets are process-global: only this test changes it.
        set_offset_ms(-5_000);
        let b = wall_millis();
        set_offset_ms(0);
        assert!(a >= b + 4_000, "offset not applied: {a} vs {b}");
    }
}
