//! The cycle search: in each strongly connected component of the whole
//! graph, look for the shortest cycle of each anomaly class, on three
//! graphs in turn: data dependencies alone (ww, wr, rw), then with process
//! order, then with real-time order too.
//!
//! | class | cycle |
//! |---|---|
//! | G0 | ww edges only |
//! | G1c | ww and wr edges, at least one wr |
//! | G-single | exactly one rw edge |
//! | G-nonadjacent | two or more rw edges, no two in a row |
//! | G2-item | two or more rw edges, some in a row |
//!
//! A cycle that needs a process edge is the class's `-process` variant; one
//! that needs a real-time edge its `-realtime` variant. A class found on a
//! weaker graph is not looked for again on a richer one in the same
//! component (it implies its variants there).
//!
//! Bounded: all searches share one allowance of steps (edges looked at)
//! and the time budget; one class search in one component may take a
//! quarter of what is left (at least a million steps), so a hard component
//! cannot starve the others. A search that runs out is reported as given
//! up (class, component size, steps or time), as are all the classes not
//! yet searched once the whole allowance is gone; and every component still
//! gets one cycle (a single breadth-first search, which always succeeds
//! inside a component), so a cycle is always shown when one exists.

use super::graph::{
    tarjan, Allowance, Graph, OutOf, Searcher, Step, DATA, PROCESS, REALTIME, RW, WR, WW,
};

/// The classes, in the order they are searched.
pub const CLASSES: [&str; 5] = ["G0", "G1c", "G-single", "G-nonadjacent", "G2-item"];

/// A cycle found, with its class (variant suffix included).
#[derive(Debug, Clone)]
pub struct Cycle {
    pub class: String,
    pub steps: Vec<Step>,
    /// The component's size.
    pub component: usize,
}

/// A class search that ran out of allowance.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GaveUp {
    /// The class (variant suffix included).
    pub class: String,
    pub component_size: usize,
    /// `steps` or `time`.
    pub out_of: &'static str,
}

/// What the search found.
#[derive(Debug, Default)]
pub struct Search {
    pub cycles: Vec<Cycle>,
    /// Per class, how many components showed it (`cycles` keeps at most
    /// `max_witnesses` of them).
    pub counts: Vec<(String, usize)>,
    pub gave_up: Vec<GaveUp>,
    pub components: usize,
    pub largest_component: usize,
    pub steps: u64,
}

/// The class of a cycle from the kinds of its steps.
pub fn classify(steps: &[Step]) -> String {
    let n = steps.len();
    let rw = steps.iter().filter(|s| s.kind == RW).count();
    let has = |k: u8| steps.iter().any(|s| s.kind == k);
    let base = match rw {
        0 if has(WR) => "G1c",
        0 => "G0",
        1 => "G-single",
        _ => {
            let adjacent = (0..n).any(|i| steps[i].kind == RW && steps[(i + 1) % n].kind == RW);
            if adjacent {
                "G2-item"
            } else {
                "G-nonadjacent"
            }
        }
    };
    let suffix = if has(REALTIME) {
        "-realtime"
    } else if has(PROCESS) {
        "-process"
    } else {
        ""
    };
    format!("{base}{suffix}")
}

const LEVELS: [(u8, &str); 3] = [
    (0, ""),
    (PROCESS, "-process"),
    (PROCESS | REALTIME, "-realtime"),
];

/// Searches `g` for cycles.
pub fn search(g: &Graph, allowance: &mut Allowance, max_witnesses: usize) -> Search {
    let mut out = Search::default();
    let all = DATA | PROCESS | REALTIME;
    let (comp, ncomp) = tarjan(g, all, &|_| true);
    let mut size = vec![0u32; ncomp as usize];
    for &c in &comp {
        size[c as usize] += 1;
    }
    let big: Vec<u32> = (0..ncomp).filter(|&c| size[c as usize] > 1).collect();
    out.components = big.len();
    out.largest_component = big
        .iter()
        .map(|&c| size[c as usize] as usize)
        .max()
        .unwrap_or(0);
    if big.is_empty() {
        return out;
    }
    let in_big = |v: u32| size[comp[v as usize] as usize] > 1;
    // Members of each big component.
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); ncomp as usize];
    for v in 0..g.nodes() as u32 {
        if in_big(v) {
            members[comp[v as usize] as usize].push(v);
        }
    }
    // Sub-components of the ww and ww+wr graphs at each level, over the
    // nodes of big components.
    let sub: Vec<[(Vec<u32>, u32); 2]> = LEVELS
        .iter()
        .map(|&(l, _)| [tarjan(g, WW | l, &in_big), tarjan(g, WW | WR | l, &in_big)])
        .collect();
    let mut searcher = Searcher::new(g.nodes());
    let count = |out: &mut Search, class: &str| -> usize {
        match out.counts.iter_mut().find(|(c, _)| c == class) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                out.counts.push((class.to_string(), 1));
                1
            }
        }
    };
    let seen = |out: &Search, class: &str| {
        out.counts
            .iter()
            .find(|(c, _)| c == class)
            .map_or(0, |(_, n)| *n)
    };
    for &c in &big {
        let csize = size[c as usize] as usize;
        let mut found_here: Vec<String> = Vec::new();
        for (li, &(level, suffix)) in LEVELS.iter().enumerate() {
            for class in CLASSES {
                let name = format!("{class}{suffix}");
                // Implied by the same class on a weaker graph here, or
                // enough witnesses of it already.
                // G-single implies G-nonadjacent, which implies G2-item.
                let implying: &[&str] = match class {
                    "G-nonadjacent" => &["G-single", "G-nonadjacent"],
                    "G2-item" => &["G-single", "G-nonadjacent", "G2-item"],
                    c => std::slice::from_ref(
                        &CLASSES[CLASSES.iter().position(|x| *x == c).unwrap_or(0)],
                    ),
                };
                let weaker = LEVELS[..=li].iter().any(|(_, s)| {
                    implying
                        .iter()
                        .any(|c| found_here.contains(&format!("{c}{s}")))
                });
                if weaker || found_here.contains(&name) || seen(&out, &name) >= max_witnesses {
                    continue;
                }
                if allowance.out.is_some() {
                    out.gave_up.push(GaveUp {
                        class: name,
                        component_size: csize,
                        out_of: out_of(allowance),
                    });
                    continue;
                }
                // One search may take a quarter of what is left (at least a
                // million steps), so one hard component cannot starve the rest.
                let share = (allowance.steps_left / 4)
                    .max(1 << 20)
                    .min(allowance.steps_left);
                let mut one = Allowance {
                    steps_left: share,
                    deadline: allowance.deadline,
                    spent: allowance.spent,
                    out: None,
                };
                let cycle = find(
                    g,
                    &comp,
                    c,
                    &members[c as usize],
                    &sub[li],
                    class,
                    level,
                    &mut searcher,
                    &mut one,
                );
                allowance.steps_left -= share - one.steps_left;
                allowance.spent = one.spent;
                if one.out == Some(OutOf::Time) || allowance.steps_left == 0 {
                    allowance.out = one.out.or(Some(OutOf::Steps));
                }
                match cycle {
                    Some(steps) => {
                        let got = classify(&steps);
                        if !found_here.contains(&got) {
                            found_here.push(got.clone());
                            if count(&mut out, &got) <= max_witnesses {
                                out.cycles.push(Cycle {
                                    class: got,
                                    steps,
                                    component: csize,
                                });
                            }
                        }
                    }
                    None if one.out.is_some() => out.gave_up.push(GaveUp {
                        class: name,
                        component_size: csize,
                        out_of: out_of(&one),
                    }),
                    None => {}
                }
            }
        }
        if found_here.is_empty() {
            // The component proves a cycle; show one, whatever its class.
            let m = &members[c as usize];
            let edge = m.iter().find_map(|&a| {
                g.out(a)
                    .find(|&(b, k)| comp[b as usize] == c && k & all != 0)
                    .map(|(b, k)| (a, b, k))
            });
            if let Some((a, b, k)) = edge {
                let first = [WW, WR, RW, PROCESS, REALTIME]
                    .into_iter()
                    .find(|x| k & x != 0)
                    .unwrap_or(WW);
                let mut free = Allowance {
                    steps_left: u64::MAX,
                    deadline: None,
                    spent: 0,
                    out: None,
                };
                let any = |_: u8, _: u8| Some(0u8);
                if let Some(steps) = searcher.cycle(
                    g,
                    &comp,
                    c,
                    (a, b, first),
                    all,
                    0,
                    &any,
                    &|_| true,
                    &mut free,
                ) {
                    let got = classify(&steps);
                    if count(&mut out, &got) <= max_witnesses {
                        out.cycles.push(Cycle {
                            class: got,
                            steps,
                            component: csize,
                        });
                    }
                }
                allowance.spent += free.spent;
            }
        }
    }
    out.steps = allowance.spent;
    out
}

fn out_of(a: &Allowance) -> &'static str {
    match a.out {
        Some(OutOf::Time) => "time",
        _ => "steps",
    }
}

/// The first cycle of `class` in component `c` on the graph of `level`.
#[allow(clippy::too_many_arguments)]
fn find(
    g: &Graph,
    comp: &[u32],
    c: u32,
    members: &[u32],
    sub: &[(Vec<u32>, u32); 2],
    class: &str,
    level: u8,
    searcher: &mut Searcher,
    allowance: &mut Allowance,
) -> Option<Vec<Step>> {
    let any = |_: u8, _: u8| Some(0u8);
    let no_rw = |_: u8, k: u8| (k != RW).then_some(0u8);
    // G-nonadjacent state: bit 0 = the last step was rw, bit 1 = two rw seen.
    let nonadjacent = |s: u8, k: u8| {
        if k == RW {
            (s & 1 == 0).then_some(3u8)
        } else {
            Some(s & 2)
        }
    };
    // G2-item state: 1 once two rw are seen.
    let two_rw = |s: u8, k: u8| Some(if k == RW { 1 } else { s });
    for &a in members {
        for (b, k) in g.out(a) {
            if comp[b as usize] != c {
                continue;
            }
            let r = match class {
                "G0" | "G1c" => {
                    let (start, (sc, _)) = if class == "G0" {
                        (WW, &sub[0])
                    } else {
                        (WR, &sub[1])
                    };
                    if k & start == 0 || sc[a as usize] != sc[b as usize] {
                        continue;
                    }
                    let mask = if class == "G0" {
                        WW | level
                    } else {
                        WW | WR | level
                    };
                    searcher.cycle(
                        g,
                        comp,
                        c,
                        (a, b, start),
                        mask,
                        0,
                        &any,
                        &|_| true,
                        allowance,
                    )
                }
                "G-single" => {
                    let (sc, _) = &sub[1];
                    if k & RW == 0 || sc[a as usize] > sc[b as usize] {
                        continue;
                    }
                    searcher.cycle(
                        g,
                        comp,
                        c,
                        (a, b, RW),
                        WW | WR | level,
                        0,
                        &no_rw,
                        &|_| true,
                        allowance,
                    )
                }
                "G-nonadjacent" => {
                    if k & RW == 0 {
                        continue;
                    }
                    searcher.cycle(
                        g,
                        comp,
                        c,
                        (a, b, RW),
                        DATA | level,
                        1,
                        &nonadjacent,
                        &|s| s == 2,
                        allowance,
                    )
                }
                _ => {
                    if k & RW == 0 {
                        continue;
                    }
                    searcher.cycle(
                        g,
                        comp,
                        c,
                        (a, b, RW),
                        DATA | level,
                        0,
                        &two_rw,
                        &|s| s == 1,
                        allowance,
                    )
                }
            };
            // A walk that visits a node twice is not one cycle (the search
            // tracks states, not paths); try the next start edge.
            if let Some(steps) = r {
                if simple(&steps) {
                    return Some(steps);
                }
            }
            if allowance.out.is_some() {
                return None;
            }
        }
    }
    None
}

/// Does the walk visit each node once?
fn simple(steps: &[Step]) -> bool {
    let mut nodes: Vec<u32> = steps.iter().map(|s| s.from).collect();
    nodes.sort_unstable();
    nodes.windows(2).all(|w| w[0] != w[1])
}
