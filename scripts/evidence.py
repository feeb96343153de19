#!/usr/bin/env python3
"""Render a campaign's summary.json as a markdown detection matrix.

    scripts/evidence.py SUMMARY.json                      # print the block
    scripts/evidence.py SUMMARY.json --out docs/evidence.md

One row per campaign row: system, level, nemesis, caught/runs, the catch
rate with its 95% Wilson score interval, the first anomaly (min / median
seconds over the invalid seeds), whether the expectation held (and why
not), and availability. A header says which campaign, when, its wall time
and how to reproduce it (from plan.json beside summary.json, when there).

With --out, only the block between the markers

    <!-- detection:begin -->
    <!-- detection:end -->

is replaced, so the hand-written rest of the file survives; without the
markers the block is appended at the end (a file that does not exist is
created). Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

BEGIN = "<!-- detection:begin -->"
END = "<!-- detection:end -->"
Z = 1.959963984540054  # the 97.5% quantile of the standard normal


class EvidenceError(Exception):
    pass


def wilson(k: int, n: int) -> tuple[float, float] | None:
    """The 95% Wilson score interval of k successes in n trials.

    >>> [round(x, 3) for x in wilson(19, 20)]
    [0.764, 0.991]
    >>> [round(x, 3) for x in wilson(0, 50)]
    [0.0, 0.071]
    >>> wilson(0, 0) is None
    True
    """
    if n == 0:
        return None
    p = k / n
    z2 = Z * Z
    denom = 1 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if k == 0 else max(0.0, center - half)
    high = 1.0 if k == n else min(1.0, center + half)
    return (low, high)


def cell(text) -> str:
    """Text safe inside a markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def catch_figures(row: dict) -> tuple[int, int, tuple[float, float] | None]:
    """(caught, runs, CI) of a row; computed from its runs when the summary
    predates the `caught` fields."""
    runs = row.get("runs") or []
    n = row.get("seeds_run")
    k = row.get("caught")
    if n is None or k is None or (n == 0 and runs):
        n = len(runs)
        k = sum(1 for r in runs if r.get("verdict") == "invalid")
    lo, hi = row.get("catch_ci_low"), row.get("catch_ci_high")
    ci = (lo, hi) if lo is not None and hi is not None else wilson(k, n)
    return k, n, ci


def pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def first_anomaly(row: dict) -> str:
    lo, med = row.get("first_anomaly_min_s"), row.get("first_anomaly_median_s")
    if lo is None or med is None:
        return "–"
    return f"{lo:.1f} / {med:.1f}"


def expectation(row: dict) -> str:
    exp = row.get("expect")
    ok = row.get("expect_ok")
    msg = row.get("expect_message")
    if exp is None and msg is None:
        return "–"
    if ok is True:
        return f"✓ {exp}"
    if ok is False:
        return f"✗ {exp}: {msg or 'broken'}"
    return f"– {exp or ''}: {msg or 'not judged'}".replace("– : ", "– ")


def availability(row: dict) -> str:
    a = row.get("availability")
    return "–" if a is None else f"{a * 100:.1f}%"


def status(s: dict) -> str:
    if not s.get("ok", True):
        return "an expectation is broken"
    shard = s.get("shard") or {}
    if shard.get("count", 1) > 1:
        return f"shard {shard['index']} of {shard['count']}: not judged"
    if s.get("interrupted"):
        return "interrupted: not every run ran"
    if s.get("incomplete"):
        return "incomplete: some rows are not judged"
    return "every expectation holds"


def reproduce(summary_path: Path, s: dict) -> str:
    """How to run the campaign again, from plan.json when it is there."""
    plan_path = summary_path.with_name("plan.json")
    file = None
    if plan_path.is_file():
        try:
            file = json.loads(plan_path.read_text()).get("file")
        except (OSError, ValueError):
            file = None
    file = file or f"campaigns/{s.get('name', 'CAMPAIGN')}.toml"
    # A path inside this repository is shown relative to its root (the
    # campaign may have been run from a checkout anywhere).
    repo = Path(__file__).resolve().parent.parent
    try:
        file = str(Path(file).resolve().relative_to(repo))
    except ValueError:
        pass
    shards = len(s.get("merged_from") or [])
    shard = s.get("shard") or {}
    count = shard.get("count", 1) if shard.get("count", 1) > 1 else None
    if s.get("merged_from"):
        count = max((m.get("shard", {}).get("count", 1) for m in s["merged_from"]), default=1)
    lines = [f"`faultline campaign {file}`"]
    if count and count > 1:
        lines.append(
            f"or in {count} shards: `faultline campaign {file} --shard I/{count}` for I in 1..{count}, "
            f"then `faultline campaign merge DIR...`"
            + (f" (this page merges {shards} of them)" if shards else "")
        )
    return "; ".join(lines)


def block(summary_path: Path) -> str:
    try:
        s = json.loads(summary_path.read_text())
    except OSError as e:
        raise EvidenceError(f"{summary_path}: {e.strerror or e}") from e
    except ValueError as e:
        raise EvidenceError(f"{summary_path}: not JSON: {e}") from e
    if not isinstance(s, dict) or not isinstance(s.get("rows"), list):
        raise EvidenceError(f"{summary_path}: field `rows`: missing (is it a campaign summary.json?)")
    name = s.get("name", "?")
    runs = sum(len(r.get("runs") or []) for r in s["rows"])
    out = [
        BEGIN,
        "<!-- generated by scripts/evidence.py from a campaign's summary.json; edits inside these markers are overwritten -->",
        "",
        f"### Detection matrix: campaign `{name}`",
        "",
        f"- started {s.get('started', '?')} (UTC), wall time {s.get('wall_seconds', 0):.0f} s, "
        f"{len(s['rows'])} rows, {runs} runs: {status(s)}",
        f"- reproduce: {reproduce(summary_path, s)}",
        "- caught: seeds whose run was invalid (the weakness was caught), with the catch rate and "
        "its 95% Wilson score interval; first anomaly: min / median seconds into the run over the invalid seeds",
        "",
        "| system | level | nemesis | caught/runs | catch rate (95% CI) | first anomaly s (min/median) | expectation | availability |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(s["rows"]):
        if not isinstance(r, dict):
            raise EvidenceError(f"{summary_path}: rows[{i}]: expected an object")
        k, n, ci = catch_figures(r)
        rate = "–" if n == 0 else f"{pct(k / n)} ({pct(ci[0])}–{pct(ci[1])})"
        out.append(
            "| "
            + " | ".join(
                cell(x)
                for x in (
                    r.get("system", ""),
                    r.get("level", ""),
                    r.get("nemesis", ""),
                    f"{k}/{n}",
                    rate,
                    first_anomaly(r),
                    expectation(r),
                    availability(r),
                )
            )
            + " |"
        )
    out.append("")
    out.append(END)
    return "\n".join(out) + "\n"


def splice(existing: str, new_block: str, target: str) -> str:
    """`existing` with the marked block replaced by `new_block` (appended
    when there are no markers)."""
    b, e = existing.find(BEGIN), existing.find(END)
    if b == -1 and e == -1:
        sep = "" if existing == "" else ("\n" if existing.endswith("\n") else "\n\n")
        return existing + sep + new_block
    if b == -1 or e == -1 or e < b:
        raise EvidenceError(
            f"{target}: the markers {BEGIN} and {END} must both be there, in that order"
        )
    rest = existing[e + len(END):]
    if rest.startswith("\n"):
        rest = rest[1:]
    return existing[:b] + new_block + rest


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("summary", type=Path, help="a campaign's summary.json")
    ap.add_argument("--out", type=Path, help="file whose marked block to replace (e.g. docs/evidence.md)")
    a = ap.parse_args(argv)
    try:
        new = block(a.summary)
        if a.out is None:
            sys.stdout.write(new)
            return 0
        existing = a.out.read_text() if a.out.exists() else ""
        text = splice(existing, new, str(a.out))
        tmp = a.out.with_name(f".{a.out.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.replace(a.out)
        print(f"evidence: wrote the detection matrix of {a.summary} into {a.out}", file=sys.stderr)
        return 0
    except EvidenceError as e:
        print(f"evidence: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"evidence: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
