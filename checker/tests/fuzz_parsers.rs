//! Property tests for every history reader (JSONL, EDN, Knossos vectors,
//! elle-cli JSON arrays, Jepsen history.txt, Porcupine etcd and kv logs)
//! and the transaction parser (list-append, rw-register): valid generated
//! histories parse to exactly their events, and mutated ones parse or fail
//! with an error naming a line of the input, never a panic. The generators,
//! the mutator and the invariants are in `fuzz_common`, shared with the
//! long run (`examples/fuzz_parsers.rs`, `scripts/fuzz-parsers.sh`).
//! Short by design: a few hundred cases per property.
//!
//! Below them: regression tests for the parser bugs the long run found.

mod fuzz_common;

use checker::formats::{parse, Format};
use fuzz_common::*;
use proptest::prelude::*;

fn target() -> impl Strategy<Value = Target> {
    prop::sample::select(TARGETS.to_vec())
}

/// A valid generated history of `target` from `seed`, checked.
fn valid(target: Target, seed: u64) -> Result<(), TestCaseError> {
    let mut r = Prng::new(seed);
    let case = generate(&mut r, target);
    let res = check_input(target, case.format, &case.bytes, case.expect.as_ref());
    prop_assert!(
        res.is_ok(),
        "{} (seed {seed}): {}\ninput: {}",
        target.name(),
        res.unwrap_err(),
        excerpt(&case.bytes, 2000)
    );
    Ok(())
}

/// A mutated history of `target` from `seed`, checked in its own format
/// and in every other.
fn mutated(target: Target, seed: u64) -> Result<(), TestCaseError> {
    let mut r = Prng::new(seed);
    let case = generate(&mut r, target);
    let other = *r.pick(&TARGETS);
    let donor = generate(&mut r, other);
    let bytes = mutate(&mut r, &case.bytes, &[&donor.bytes]);
    let res = check_input(target, case.format, &bytes, None);
    prop_assert!(
        res.is_ok(),
        "{} (seed {seed}): {}\ninput: {}",
        target.name(),
        res.unwrap_err(),
        excerpt(&bytes, 2000)
    );
    let other = *r.pick(&FORMATS);
    let res = check_input(target, other, &bytes, None);
    prop_assert!(
        res.is_ok(),
        "{} as {} (seed {seed}): {}\ninput: {}",
        target.name(),
        other.name(),
        res.unwrap_err(),
        excerpt(&bytes, 2000)
    );
    Ok(())
}

const FORMATS: [Format; 6] = [
    Format::Jsonl,
    Format::Edn,
    Format::Json,
    Format::JepsenText,
    Format::PorcupineEtcd,
    Format::PorcupineKv,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn valid_histories_parse_to_their_events(t in target(), seed in any::<u64>()) {
        valid(t, seed)?;
    }

    #[test]
    fn mutated_histories_parse_or_name_a_line(t in target(), seed in any::<u64>()) {
        mutated(t, seed)?;
    }

    #[test]
    fn random_bytes_parse_or_name_a_line(
        bytes in prop::collection::vec(
            prop_oneof![any::<u8>(), prop::sample::select(b"[]{}()#_\"\\:;, \n\t0123456789-.eENMnil\xff\xc3".to_vec())],
            0..400,
        ),
        t in target(),
    ) {
        for format in FORMATS {
            let res = check_input(t, format, &bytes, None);
            prop_assert!(res.is_ok(), "{}: {}", format.name(), res.unwrap_err());
        }
    }
}

/// Every valid Porcupine corpus file keeps every op line, and a few
/// mutations of each still parse or name a line.
#[test]
fn porcupine_corpus_mutations() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/porcupine");
    let seeds = porcupine_seeds(&dir);
    let mut r = Prng::new(7);
    for (target, bytes) in &seeds {
        let format = match target {
            Target::PorcupineKv => Format::PorcupineKv,
            _ => Format::PorcupineEtcd,
        };
        let res = check_input(*target, format, bytes, None);
        assert!(res.is_ok(), "{}", res.unwrap_err());
        for _ in 0..3 {
            let m = mutate(&mut r, bytes, &[]);
            if let Err(e) = check_input(*target, format, &m, None) {
                panic!("{e}\ninput: {}", excerpt(&m, 2000));
            }
        }
    }
}

#[test]
fn empty_and_blank_inputs() {
    for bytes in [&b""[..], b"\n", b"\r\n\r\n", b"\xEF\xBB\xBF", b"  \t \n"] {
        for format in FORMATS {
            if let Err(e) = check_input(Target::Jsonl, format, bytes, None) {
                panic!("{}: {e}", format.name());
            }
        }
    }
    // An empty JSONL is an empty history.
    assert!(parse(b"", "x", Some(Format::Jsonl))
        .unwrap()
        .events
        .is_empty());
}

// ---------------------------------------------------------------------------
// Regressions found by the fuzzer.

/// A pretty-printed EDN map whose first key is on the next line (or behind
/// a discarded form) was detected as JSONL, so `faultline check` without
/// `--format` called a valid EDN history unrecognised.
#[test]
fn detect_edn_map_with_first_key_on_the_next_line() {
    use checker::formats::detect;
    for text in [
        "{\n :process 0\n :type :invoke\n :f :read\n :value nil}\n",
        "{#_ :dropped :process 0, :type :invoke, :f :read, :value nil}\n",
        "{\r\n\t:process 0, :type :invoke, :f :read, :value nil}",
    ] {
        assert_eq!(detect(text.as_bytes()), Format::Edn, "{text:?}");
        let h = parse(text.as_bytes(), "t.edn", None).unwrap();
        assert_eq!(h.events.len(), 1, "{text:?}");
    }
    assert_eq!(detect(b"{\n  \"process\": 0}\n"), Format::Jsonl);
    assert_eq!(detect(b"{}\n"), Format::Jsonl);
}
