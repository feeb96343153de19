//! A brute-force linearizability oracle for small histories: it tries every
//! order of the operations consistent with real time, with no memoization
//! and no pruning beyond the model. Exponential; meant for property tests
//! that cross-check the fast search.

use crate::model::Model;
use crate::wgl::SearchOp;

/// True when some order of `ops` respects real time (an op that returned
/// before another was called comes first), is legal for `model`, and
/// includes every op with a return. Ops without a return may be placed
/// anywhere after their call, or left out.
pub fn brute_force<M: Model>(model: &M, ops: &[SearchOp<M::Op>]) -> bool {
    let mut done = vec![false; ops.len()];
    go(model, ops, &mut done, &model.init())
}

fn go<M: Model>(model: &M, ops: &[SearchOp<M::Op>], done: &mut [bool], state: &M::State) -> bool {
    if ops
        .iter()
        .zip(done.iter())
        .all(|(o, &d)| d || o.ret.is_none())
    {
        return true;
    }
    // The earliest return among the ops not yet placed: an op called after
    // it cannot come next.
    let horizon = ops
        .iter()
        .zip(done.iter())
        .filter(|(_, &d)| !d)
        .filter_map(|(o, _)| o.ret)
        .min()
        .unwrap_or(u64::MAX);
    for i in 0..ops.len() {
        if done[i] || ops[i].call > horizon {
            continue;
        }
        if let Some(next) = model.step(state, &ops[i].op) {
            done[i] = true;
            let ok = go(model, ops, done, &next);
            done[i] = false;
            if ok {
                return true;
            }
        }
    }
    false
}
