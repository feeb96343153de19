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

/// A reading of a lease clock: where leases and visibility timeouts start.
///
/// Two kinds of clock share this type:
/// - the **wall clock** (`term` 0, `clock` 0, [`Stamp::wall`]): what the
///   deliberately weak levels (`single`, `redlock`, `primary-async`) use, so
///   a moved clock moves their leases;
/// - a Raft leader's **term clock** (see `RaftCore::leader_stamp`): the
///   leader's monotonic clock, counted from when this process first saw
///   itself leader of `term`, with `clock` naming the process. Monotonic
///   time is not moved by clock faults, and a term clock starts only after
///   every entry of an earlier term in the leader's log was stamped.
///
/// [`Stamp::elapsed_to`] gives a lower bound on the real time between two
/// stamps, which is all a lease needs to be safe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    #[serde(default)]
    pub term: u64,
    #[serde(default)]
    pub clock: u64,
    pub ms: u64,
}

impl Stamp {
    /// Now, on this process's wall clock.
    pub fn wall() -> Stamp {
        Stamp {
            term: 0,
            clock: 0,
            ms: wall_millis(),
        }
    }

    /// Milliseconds from `self` to the later stamp `now`, never more than
    /// the real time between them: the difference on one clock; across
    /// clocks, the time `now`'s clock has run (it started after `self`).
    pub fn elapsed_to(&self, now: &Stamp) -> u64 {
        if self.term == now.term && self.clock == now.clock {
            now.ms.saturating_sub(self.ms)
        } else {
            now.ms
        }
    }

    /// A stamp a Raft state machine can trust for an entry of `term`: the
    /// stamp itself when it was taken in that term; otherwise (leadership
    /// changed between stamping and proposing) a fresh reading that says
    /// no time has passed, which only ever keeps leases longer.
    pub fn for_entry(self, term: u64) -> Stamp {
        if self.term == term {
            self
        } else {
            Stamp {
                term,
                clock: u64::MAX,
                ms: 0,
            }
        }
    }
}

/// A number naming this process among every process of a cluster (pid,
/// start time and address mixed), for [`Stamp::clock`]. Never 0 or
/// `u64::MAX`.
pub fn process_nonce() -> u64 {
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NONCE.get_or_init(|| {
        let mono = std::time::Instant::now();
        let mut x = (std::process::id() as u64) << 32
            ^ wall_micros()
            ^ (&mono as *const _ as u64).rotate_left(17);
        // splitmix64 finaliser
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        x.clamp(1, u64::MAX - 1)
    })
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

    #[test]
    fn stamps_measure_within_one_clock_and_conservatively_across() {
        let a = Stamp {
            term: 3,
            clock: 9,
            ms: 1_000,
        };
        // Same clock: the difference (never negative).
        assert_eq!(a.elapsed_to(&Stamp { ms: 1_700, ..a }), 700);
        assert_eq!(a.elapsed_to(&Stamp { ms: 10, ..a }), 0);
        // Another term or process: only as long as the later clock has run.
        assert_eq!(
            a.elapsed_to(&Stamp {
                term: 4,
                clock: 9,
                ms: 250
            }),
            250
        );
        assert_eq!(
            a.elapsed_to(&Stamp {
                term: 3,
                clock: 8,
                ms: 40
            }),
            40
        );
        // A stamp from another term than its entry's says no time passed.
        assert_eq!(a.for_entry(3), a);
        let f = a.for_entry(5);
        assert_eq!((f.term, f.ms), (5, 0));
        assert_eq!(a.elapsed_to(&f), 0);
        assert_ne!(process_nonce(), 0);
        assert_eq!(process_nonce(), process_nonce());
    }
}
