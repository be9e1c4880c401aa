"""Regressions between benchmark runs: the latest result of each benchmark and case against the one
before it (or a baseline), from the JSON lines the benchmarks append to ``bench/results/*.jsonl``.

    uv run --frozen python bench/compare.py [FILE.jsonl ...] [--threshold 0.10]
        [--baseline previous|first|COMMIT] [--min-abs X] [--fail] [--json] [--check-scripts]

How a result line is read (the benchmarks' lines differ in shape; nothing is asked of them beyond JSON):

- the benchmark is the line's ``bench`` field, else the file's name;
- a top-level list of objects (``runs``, ``results``, …) holds one *case* per object, named by its text
  and boolean fields (``case=box cache=on``, ``bus=kafka``); everything else is the case ``-``;
- every number, nested objects included (``file.put.p50_ms``), is a metric. Its direction comes from
  its name: throughputs (``…per_s``, ``rps``, ``…fraction``) are better higher; times, latencies,
  percentiles, sizes in memory and error counts (``…_ms``, ``…_s``, ``…seconds``, ``p99``, ``…mib``,
  ``missing``, ``errors``, ``failed``, …) are better lower; other numbers (counts, parameters such as
  ``games`` or ``step``) are not compared. Run metadata (time, commit, machine, load average) is
  never a metric;
- runs are compared only when their parameters are equal (the numbers named in :data:`PARAMS`, e.g.
  ``games``, ``speed``, ``step``, ``clients``, wherever they are outside the cases); otherwise the
  pair is skipped with a note saying which parameter changed.

A metric regresses when it is worse than the baseline by more than ``--threshold`` (a fraction,
default 0.10); ``--min-abs`` ignores changes smaller than an absolute amount (default 0). The load
average at each run is shown when the lines carry it, because a loaded machine makes everything
slower. Exit code: 0, or 1 with ``--fail`` when anything regressed; 2 for unreadable input.

``--check-scripts`` lists the ``bench/*.py`` scripts that do not write a results file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"

META = {
    "bench",
    "at",
    "timestamp",
    "commit",
    "git_commit",
    "python",
    "machine",
    "host",
    "cpus",
    "load_average",
    "loadavg_1m",
    "load_avg_1m",
}
LOAD_KEYS = ("load_average", "loadavg_1m", "load_avg_1m")
# numbers that describe the workload rather than measure it: runs with different values do not compare
# (sample sizes such as reps or a wrk duration change the precision, not the quantity, so they are not here)
PARAMS = {
    "batch",
    "batch_rows",
    "clients",
    "client_procs",
    "concurrency",
    "connections",
    "events",
    "games",
    "interval_s",
    "messages",
    "n",
    "poll_interval",
    "rate_target",
    "season",
    "size",
    "speed",
    "start_in",
    "step",
    "threads",
}
HIGHER = re.compile(r"(per_s|per_second|_rps|^rps|throughput|fraction|ratio_hit|hit_ratio|speedup)$")
LOWER = re.compile(
    r"(_ms|_us|_s|seconds|latency|p50|p90|p95|p99|_max|mib|_mb_rss|bytes_per_event|errors|missing|failed|failures"
    r"|non_2xx|rejected|lost)$|^(p\d\d|max_ms|min_ms)"
)


def direction(metric: str) -> int:
    """+1 when higher is better, -1 when lower is better, 0 when the number is not compared."""
    name = metric.rsplit(".", 1)[-1]
    if HIGHER.search(name):
        return 1
    if LOWER.search(name):
        return -1
    return 0


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        yield prefix, float(value)
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))


def _case_name(item: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in item.items() if isinstance(v, str | bool)]
    return " ".join(parts) or "-"


def parameters(line: dict[str, Any]) -> dict[str, Any]:
    """The workload parameters of a line: the numbers named in :data:`PARAMS` and the text fields
    (``"to": "s3"``), outside the case lists."""
    scalars = {k: v for k, v in line.items() if k not in META and not isinstance(v, list)}
    found: dict[str, Any] = {m: v for m, v in _flatten(scalars) if m.rsplit(".", 1)[-1] in PARAMS}
    found.update({k: v for k, v in scalars.items() if isinstance(v, str)})
    return found


def cases(line: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{case: {metric: value}}`` of one result line (see the module doc)."""
    out: dict[str, dict[str, float]] = {"-": {}}
    for key, value in line.items():
        if key in META:
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                name = _case_name(item)
                metrics = out.setdefault(name, {})
                for metric, number in _flatten({k: v for k, v in item.items() if not isinstance(v, str)}):
                    metrics[f"{key}.{metric}"] = number
        else:
            for metric, number in _flatten({key: value}):
                out["-"][metric] = number
    return {name: metrics for name, metrics in out.items() if metrics}


@dataclass
class Run:
    bench: str
    line_no: int
    commit: str
    at: str
    load: float | None
    params: dict[str, Any]
    cases: dict[str, dict[str, float]]


@dataclass
class Change:
    file: str
    bench: str
    case: str
    metric: str
    before: float
    after: float
    better: int  # +1 higher is better, -1 lower is better

    @property
    def relative(self) -> float:
        return (self.after - self.before) / abs(self.before)

    @property
    def worse(self) -> bool:
        return self.relative * self.better < 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "bench": self.bench,
            "case": self.case,
            "metric": self.metric,
            "before": self.before,
            "after": self.after,
            "change": round(self.relative, 4),
            "better": "higher" if self.better > 0 else "lower",
        }


@dataclass
class Report:
    regressions: list[Change] = field(default_factory=list)
    improvements: list[Change] = field(default_factory=list)
    compared: int = 0
    notes: list[str] = field(default_factory=list)


def read_runs(path: Path) -> list[Run]:
    """The runs of one results file, in file order; a line that is not a JSON object is an error."""
    runs: list[Run] = []
    for no, text in enumerate(path.read_text().splitlines(), 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path.name}:{no}: not JSON: {exc}") from exc
        if not isinstance(line, dict):
            raise ValueError(f"{path.name}:{no}: not a JSON object")
        load = next((line[k] for k in LOAD_KEYS if isinstance(line.get(k), int | float)), None)
        runs.append(
            Run(
                bench=str(line.get("bench") or path.stem),
                line_no=no,
                commit=str(line.get("commit") or line.get("git_commit") or "?"),
                at=str(line.get("at") or line.get("timestamp") or "?"),
                load=load,
                params=parameters(line),
                cases=cases(line),
            )
        )
    return runs


def _baseline(earlier: list[Run], how: str) -> Run | None:
    if not earlier:
        return None
    if how == "previous":
        return earlier[-1]
    if how == "first":
        return earlier[0]
    matching = [r for r in earlier if r.commit.startswith(how)]
    return matching[-1] if matching else None


def compare(
    paths: list[Path], *, threshold: float, min_abs: float = 0.0, baseline: str = "previous"
) -> Report:
    report = Report()
    for path in paths:
        runs = read_runs(path)
        by_bench: dict[str, list[Run]] = {}
        for run in runs:
            by_bench.setdefault(run.bench, []).append(run)
        for bench, history in sorted(by_bench.items()):
            latest = history[-1]
            base = _baseline(history[:-1], baseline)
            if base is None:
                report.notes.append(
                    f"{path.name} {bench}: one run only (or no run of {baseline}): nothing to compare"
                )
                continue
            changed = {
                k: (base.params.get(k), v) for k, v in latest.params.items() if base.params.get(k, v) != v
            }
            if changed:
                what = ", ".join(
                    f"{k} {_fmt(a)} → {_fmt(b)}" for k, (a, b) in sorted(changed.items()) if a is not None
                )
                report.notes.append(f"{path.name} {bench}: parameters differ ({what}): not compared")
                continue
            for case, metrics in sorted(latest.cases.items()):
                before_metrics = base.cases.get(case)
                if case != "-" and any(m.rsplit(".", 1)[-1] in PARAMS for m in metrics):
                    params_now = {m: v for m, v in metrics.items() if m.rsplit(".", 1)[-1] in PARAMS}
                    if before_metrics is not None and any(
                        before_metrics.get(m, v) != v for m, v in params_now.items()
                    ):
                        report.notes.append(f"{path.name} {bench} [{case}]: parameters differ: not compared")
                        continue
                if before_metrics is None:
                    report.notes.append(f"{path.name} {bench} [{case}]: new case")
                    continue
                for metric, after in sorted(metrics.items()):
                    better = 0 if metric.rsplit(".", 1)[-1] in PARAMS else direction(metric)
                    before = before_metrics.get(metric)
                    if better == 0 or before is None or before == 0:
                        continue
                    report.compared += 1
                    change = Change(path.name, bench, case, metric, before, after, better)
                    if abs(after - before) < min_abs or abs(change.relative) <= threshold:
                        continue
                    (report.regressions if change.worse else report.improvements).append(change)
            if base.load is not None or latest.load is not None:
                report.notes.append(
                    f"{path.name} {bench}: load average {base.load} (commit {base.commit[:8]}, {base.at}) → "
                    f"{latest.load} (commit {latest.commit[:8]}, {latest.at})"
                )
    return report


def scripts_without_results(folder: Path = BENCH) -> list[str]:
    """``bench/*.py`` scripts (helpers starting with ``_`` and this one aside) that write no results file."""
    missing = []
    for script in sorted(folder.glob("*.py")):
        if script.name.startswith("_") or script.name == Path(__file__).name:
            continue
        if ".jsonl" not in script.read_text():
            missing.append(script.name)
    return missing


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _line(change: Change) -> str:
    sign = "+" if change.relative >= 0 else ""
    return (
        f"  {change.bench} [{change.case}] {change.metric}: {change.before:g} → {change.after:g} "
        f"({sign}{change.relative:.1%}, {'higher' if change.better > 0 else 'lower'} is better)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="results files (default: bench/results/*.jsonl)")
    parser.add_argument("--threshold", type=float, default=0.10, help="relative change that counts (0.10)")
    parser.add_argument("--min-abs", type=float, default=0.0, help="ignore smaller absolute changes")
    parser.add_argument(
        "--baseline", default="previous", help="previous (default), first, or a commit prefix"
    )
    parser.add_argument("--fail", action="store_true", help="exit 1 when anything regressed")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--check-scripts", action="store_true", help="list bench scripts writing no results")
    args = parser.parse_args(argv)
    paths = args.files or sorted(RESULTS.glob("*.jsonl"))
    try:
        report = compare(paths, threshold=args.threshold, min_abs=args.min_abs, baseline=args.baseline)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    silent = scripts_without_results() if args.check_scripts else []
    if args.json:
        print(
            json.dumps(
                {
                    "compared": report.compared,
                    "regressions": [c.to_dict() for c in report.regressions],
                    "improvements": [c.to_dict() for c in report.improvements],
                    "notes": report.notes,
                    **({"scripts_without_results": silent} if args.check_scripts else {}),
                },
                indent=2,
            )
        )
    else:
        print(
            f"{report.compared} metrics compared (threshold {args.threshold:.0%}, baseline {args.baseline})"
        )
        for title, changes in (("REGRESSIONS", report.regressions), ("improvements", report.improvements)):
            if changes:
                print(f"{title} ({len(changes)}):")
                for change in changes:
                    print(_line(change))
        for note in report.notes:
            print(f"note: {note}")
        if args.check_scripts:
            print("scripts writing no results file: " + (", ".join(silent) or "none"))
    return 1 if args.fail and report.regressions else 0


if __name__ == "__main__":
    sys.exit(main())
