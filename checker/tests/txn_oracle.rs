//! list-append and rw-register against a brute-force serializability
//! oracle: small histories, every permutation of the committed txns (info
//! txns in or out).

use checker::checker::Budget;
use checker::checkers;
use checker::history::{EventType, History};
use checker::txn::Kind;
use checker::Verdict;
use serde_json::{json, Value};

mod txn_common;
use txn_common::*;

use proptest::prelude::*;

/// One generated txn: micro-ops (true = append) over keys 0..2, and
/// its status (0 ok, 1 info, 2 fail).
#[derive(Debug, Clone)]
pub struct G {
    pub mops: Vec<(bool, u8)>,
    pub status: u8,
}

/// Is there a serial order of the ok txns and some of the info txns in
/// which every ok txn's reads are what it saw?
pub fn serializable(txns: &[(Vec<Value>, u8)]) -> bool {
    let ok: Vec<usize> = (0..txns.len()).filter(|&i| txns[i].1 == 0).collect();
    let info: Vec<usize> = (0..txns.len()).filter(|&i| txns[i].1 == 1).collect();
    for mask in 0..(1u32 << info.len()) {
        let mut set = ok.clone();
        set.extend(
            info.iter()
                .enumerate()
                .filter(|(j, _)| mask >> j & 1 == 1)
                .map(|(_, &i)| i),
        );
        if permutations(&mut set, 0, &mut |order| replay(txns, order)) {
            return true;
        }
    }
    false
}

fn permutations(v: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize]) -> bool) -> bool {
    if k == v.len() {
        return f(v);
    }
    for i in k..v.len() {
        v.swap(k, i);
        if permutations(v, k + 1, f) {
            return true;
        }
        v.swap(k, i);
    }
    false
}

fn replay(txns: &[(Vec<Value>, u8)], order: &[usize]) -> bool {
    let mut state: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for &i in order {
        for m in &txns[i].0 {
            let k = m[1].to_string();
            if m[0] == "append" {
                state.entry(k).or_default().push(m[2].clone());
            } else if txns[i].1 == 0 {
                let cur = state.get(&k).cloned().unwrap_or_default();
                let seen = m[2].as_array().cloned().unwrap_or_default();
                if cur != seen {
                    return false;
                }
            }
        }
    }
    true
}

/// Executes the txns in a random order against a store, then perturbs
/// some reads (truncated or reordered), so that some histories are
/// serializable and some are not.
pub fn realize(gs: &[G], order: &[usize], perturb: &[u8]) -> Vec<(Vec<Value>, u8)> {
    let mut state: Vec<Vec<i64>> = vec![Vec::new(); 2];
    let mut next = 1i64;
    let mut out: Vec<(Vec<Value>, u8)> = gs.iter().map(|g| (Vec::new(), g.status)).collect();
    let mut p = 0usize;
    for &i in order {
        let g = &gs[i];
        // A failed txn does not take effect (its reads are not checked).
        let mut local = state.clone();
        for &(append, k) in &g.mops {
            let k = k as usize;
            if append {
                local[k].push(next);
                out[i].0.push(json!(["append", k, next]));
                next += 1;
            } else {
                let mut seen = local[k].clone();
                match perturb.get(p).copied().unwrap_or(0) % 6 {
                    0 if !seen.is_empty() => {
                        seen.pop();
                    }
                    1 if seen.len() > 1 => seen.swap(0, 1),
                    _ => {}
                }
                p += 1;
                out[i].0.push(json!(["r", k, seen]));
            }
        }
        if g.status != 2 {
            state = local;
        }
    }
    out
}

fn history(txns: &[(Vec<Value>, u8)]) -> History {
    let mut b = B::default();
    for (i, (v, _)) in txns.iter().enumerate() {
        b.invoke(i as u64, Value::Array(v.clone()));
    }
    for (i, (v, s)) in txns.iter().enumerate() {
        match s {
            0 => b.ok(i as u64, Value::Array(v.clone())),
            1 => b.push(i as u64, EventType::Info, Value::Null),
            _ => b.fail(i as u64, Value::Array(v.clone())),
        };
    }
    b.history()
}

/// Every append of an ok txn shows in some ok read, and each info txn
/// shows all of its appends or none: then the version order is fully
/// known and the checker must be exact.
fn observed(txns: &[(Vec<Value>, u8)]) -> bool {
    let seen: Vec<Value> = txns
        .iter()
        .filter(|t| t.1 == 0)
        .flat_map(|t| t.0.iter())
        .filter(|m| m[0] == "r")
        .flat_map(|m| m[2].as_array().cloned().unwrap_or_default())
        .collect();
    txns.iter().all(|(v, s)| {
        let appends: Vec<&Value> = v
            .iter()
            .filter(|m| m[0] == "append")
            .map(|m| &m[2])
            .collect();
        let shown = appends.iter().filter(|a| seen.contains(a)).count();
        match s {
            0 => shown == appends.len(),
            1 => shown == 0 || shown == appends.len(),
            _ => true,
        }
    })
}

/// rw-register: is there a serial order of the ok txns and some info
/// txns in which every ok read sees the latest write (nil: none)?
pub fn serializable_rw(txns: &[(Vec<Value>, u8)]) -> bool {
    let ok: Vec<usize> = (0..txns.len()).filter(|&i| txns[i].1 == 0).collect();
    let info: Vec<usize> = (0..txns.len()).filter(|&i| txns[i].1 == 1).collect();
    for mask in 0..(1u32 << info.len()) {
        let mut set = ok.clone();
        set.extend(
            info.iter()
                .enumerate()
                .filter(|(j, _)| mask >> j & 1 == 1)
                .map(|(_, &i)| i),
        );
        let replay = |order: &[usize]| {
            let mut state: std::collections::HashMap<String, Value> = Default::default();
            for &i in order {
                for m in &txns[i].0 {
                    let k = m[1].to_string();
                    if m[0] == "w" {
                        state.insert(k, m[2].clone());
                    } else if txns[i].1 == 0 && state.get(&k).unwrap_or(&Value::Null) != &m[2] {
                        return false;
                    }
                }
            }
            true
        };
        if permutations(&mut set, 0, &mut |o| replay(o)) {
            return true;
        }
    }
    false
}

/// rw-register histories: executed in `order`, some reads replaced by
/// another value written to the key (or nil).
pub fn realize_rw(gs: &[G], order: &[usize], perturb: &[u8]) -> Vec<(Vec<Value>, u8)> {
    let mut state: Vec<Option<i64>> = vec![None; 2];
    let mut written: Vec<Vec<i64>> = vec![Vec::new(); 2];
    let mut next = 1i64;
    let mut out: Vec<(Vec<Value>, u8)> = gs.iter().map(|g| (Vec::new(), g.status)).collect();
    let mut p = 0usize;
    for &i in order {
        let mut local = state.clone();
        for &(write, k) in &gs[i].mops {
            let k = k as usize;
            if write {
                local[k] = Some(next);
                written[k].push(next);
                out[i].0.push(json!(["w", k, next]));
                next += 1;
            } else {
                let x = perturb.get(p).copied().unwrap_or(0);
                p += 1;
                let seen = match x % 5 {
                    0 => None,
                    1 if !written[k].is_empty() => {
                        Some(written[k][x as usize / 5 % written[k].len()])
                    }
                    _ => local[k],
                };
                out[i].0.push(json!(["r", k, seen]));
            }
        }
        if gs[i].status != 2 {
            state = local;
        }
    }
    out
}

fn gen_txn() -> impl Strategy<Value = G> {
    (
        prop::collection::vec((any::<bool>(), 0u8..2), 1..4),
        prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)],
    )
        .prop_map(|(mops, status)| G { mops, status })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
    #[test]
    fn list_append_agrees_with_brute_force(
        gs in prop::collection::vec(gen_txn(), 1..6),
        seed in any::<u64>(),
        perturb in prop::collection::vec(any::<u8>(), 12),
    ) {
        let mut order: Vec<usize> = (0..gs.len()).collect();
        // A seeded shuffle for the execution order.
        let mut s = seed | 1;
        for i in (1..order.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            order.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let txns = realize(&gs, &order, &perturb);
        let h = history(&txns);
        let r = run(Kind::ListAppend, &h, "serializable");
        let truth = serializable(&txns);
        // Sound: whatever the checker rejects, no serial order explains.
        if r.verdict == Verdict::Invalid {
            prop_assert!(!truth, "rejected a serializable history: {:#}", r.details);
        }
        // Exact when every version is observed.
        if observed(&txns) {
            prop_assert_eq!(r.verdict == Verdict::Valid, truth, "{:#}", r.details);
        }
    }

    #[test]
    fn rw_register_with_wfr_keys_is_sound(
        gs in prop::collection::vec(gen_txn(), 1..6),
        seed in any::<u64>(),
        perturb in prop::collection::vec(any::<u8>(), 12),
    ) {
        let mut order: Vec<usize> = (0..gs.len()).collect();
        let mut s = seed | 1;
        for i in (1..order.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            order.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let txns = realize_rw(&gs, &order, &perturb);
        let h = history(&txns);
        let c = checkers::by_name("rw-register:serializable+wfr-keys", &Default::default()).unwrap();
        let r = c.check(&h, &Budget::default());
        // Whatever the checker rejects, no serial order explains (wfr-keys
        // holds in every serial execution).
        if r.verdict == Verdict::Invalid {
            prop_assert!(!serializable_rw(&txns), "rejected a serializable history: {:#}", r.details);
        }
    }
}
