//! Histories written the way Elle's own examples are: ops without `:f`
//! (their values are lists of micro-ops) and without `:process`, often
//! only completions. They read as txns of one client (Elle's reading of a
//! missing process), with a warning each; anything else without `f` is
//! still an error naming the line and field.

use checker::checker::Budget;
use checker::formats::{self, Format};
use checker::history::Process;
use checker::txn::{self, Kind, TxnOptions};
use checker::Verdict;

fn check(text: &str, kind: Kind) -> (Verdict, Vec<String>, Vec<String>) {
    let h = formats::parse(text.as_bytes(), "h.edn", Some(Format::Edn)).unwrap();
    let r = txn::check(&h, &TxnOptions::new(kind), &Budget::default()).unwrap();
    let types = r.details["anomaly_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    (r.verdict, types, h.warnings)
}

#[test]
fn completions_without_f_or_process_are_txns_of_one_client() {
    // T0 saw T1's append to b, yet T1's append to a came after T0's: G1c.
    let text = "[{:type :ok, :value [[:append :a 5] [:r :b [7]]]}\n {:type :ok, :value [[:append :a 6] [:append :b 7]]}\n {:type :ok, :value [[:r :a [5 6]]]}]\n";
    let (verdict, types, warnings) = check(text, Kind::ListAppend);
    assert_eq!(verdict, Verdict::Invalid);
    assert!(types.contains(&"G1c".to_string()), "{types:?}");
    assert!(
        warnings.iter().any(|w| w.contains("3 ops have no `f`")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("3 ops have no process")),
        "{warnings:?}"
    );
    // The same three, consistent: valid.
    let ok = "[{:type :ok, :value [[:append :a 5] [:r :b nil]]}\n {:type :ok, :value [[:append :a 6] [:append :b 7]]}\n {:type :ok, :value [[:r :a [5 6]] [:r :b [7]]]}]\n";
    assert_eq!(check(ok, Kind::ListAppend).0, Verdict::Valid);
}

#[test]
fn invocations_and_completions_without_process_pair_in_order() {
    // T2 misses T1's write although T1 completed before T2 began.
    let text = "{:index 0 :type :invoke :value [[:w :x 1]]}\n{:index 1 :type :ok :value [[:w :x 1]]}\n{:index 2 :type :invoke :value [[:r :x nil]]}\n{:index 3 :type :ok :value [[:r :x nil]]}\n";
    let (verdict, types, _) = check(text, Kind::RwRegister);
    assert_eq!(verdict, Verdict::Invalid, "{types:?}");
    // Two invocations in a row cannot be one client's: an error naming
    // the line of the second.
    let overlap = "{:type :invoke :value [[:w :x 1]]}\n{:type :invoke :value [[:r :x nil]]}\n{:type :ok :value [[:w :x 1]]}\n{:type :ok :value [[:r :x 1]]}\n";
    let h = formats::parse(overlap.as_bytes(), "h.edn", Some(Format::Edn)).unwrap();
    let e = txn::check(&h, &TxnOptions::new(Kind::RwRegister), &Budget::default()).unwrap_err();
    assert_eq!(e.line, 2, "{e}");
}

#[test]
fn a_missing_process_takes_an_integer_no_other_op_uses() {
    let text = "{:process 3 :type :invoke :f :txn :value [[:append 1 1]]}\n{:process 3 :type :ok :f :txn :value [[:append 1 1]]}\n{:type :ok :value [[:r 1 [1]]]}\n{:process :nemesis :type :info :f :kill :value nil}\n";
    let h = formats::parse(text.as_bytes(), "h.edn", Some(Format::Edn)).unwrap();
    assert_eq!(h.events[2].process, Process::Client(4));
    assert_eq!(h.events[3].process, Process::Named("nemesis".into()));
    assert!(h.warnings.iter().any(|w| w.contains("process 4")));
}

#[test]
fn an_op_without_f_that_is_not_a_txn_is_still_an_error() {
    for text in [
        "{:process 0 :type :invoke :value 3}\n",
        "{:process 0 :type :invoke :value [[:cas :x 1]]}\n",
        "{:process 0 :type :invoke :value []}\n",
    ] {
        let e = formats::parse(text.as_bytes(), "h.edn", Some(Format::Edn)).unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (1, Some("f")), "{text}: {e}");
    }
    // An empty process name is not "no process": still an error.
    let e = formats::parse(
        b"{\"process\":\"\",\"type\":\"invoke\",\"f\":\"txn\",\"value\":[]}\n",
        "h.jsonl",
        Some(Format::Jsonl),
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("process"));
}
