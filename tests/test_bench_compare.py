"""``bench/compare.py``: regressions between benchmark runs, on small result files written here in the
shapes the benchmarks use (flat fields, nested objects, lists of cases)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "compare.py"


@pytest.fixture(scope="module")
def compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_compare", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_compare"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def write(path: Path, *lines: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def api_line(commit: str, rps: float, p99: float, *, connections: int = 32) -> dict[str, Any]:
    return {
        "bench": "api",
        "commit": commit,
        "at": "2026-11-26T20:00:00+00:00",
        "loadavg_1m": 1.5,
        "wrk": {"threads": 2, "connections": connections},
        "runs": [
            {"case": "box", "cache": "on", "requests": 3000, "rps": rps, "p50_ms": 10.0, "p99_ms": p99},
            {"case": "box", "cache": "off", "requests": 900, "rps": 90.0, "p50_ms": 40.0, "p99_ms": 100.0},
        ],
    }


def test_metric_directions(compare: ModuleType) -> None:
    higher = ["rps", "events_per_s", "publish_msgs_per_s", "matched_fraction", "rebuild_snapshots_per_s"]
    lower = ["p99_ms", "latency_ms_p50", "file.put.p95_ms", "restore_seconds", "wall_s", "peak_rss_mib"]
    lower += ["deliveries_missing", "non_2xx", "p99", "detect_s"]
    ignored = ["requests", "games", "snapshots", "kb_per_request", "records"]
    assert [compare.direction(m) for m in higher] == [1] * len(higher)
    assert [compare.direction(m) for m in lower] == [-1] * len(lower)
    assert [compare.direction(m) for m in ignored] == [0] * len(ignored)


def test_a_slower_case_is_a_regression_and_a_faster_one_an_improvement(
    compare: ModuleType, tmp_path: Path
) -> None:
    path = write(tmp_path / "api.jsonl", api_line("aaa", 200.0, 50.0), api_line("bbb", 150.0, 40.0))
    report = compare.compare([path], threshold=0.10)
    assert [(c.case, c.metric, c.before, c.after) for c in report.regressions] == [
        ("case=box cache=on", "runs.rps", 200.0, 150.0)
    ]
    assert [(c.case, c.metric) for c in report.improvements] == [("case=box cache=on", "runs.p99_ms")]
    # the unchanged case compared too: rps, p50 and p99 of both cases (requests is a count, not compared)
    assert report.compared == 6


def test_the_threshold_and_the_absolute_floor(compare: ModuleType, tmp_path: Path) -> None:
    path = write(tmp_path / "api.jsonl", api_line("aaa", 200.0, 50.0), api_line("bbb", 185.0, 54.0))
    assert compare.compare([path], threshold=0.10).regressions == []  # -7.5 % and +8 %: within 10 %
    tight = compare.compare([path], threshold=0.05)
    assert {c.metric for c in tight.regressions} == {"runs.rps", "runs.p99_ms"}
    assert {c.metric for c in compare.compare([path], threshold=0.05, min_abs=5).regressions} == {"runs.rps"}


def test_runs_with_other_parameters_are_not_compared(compare: ModuleType, tmp_path: Path) -> None:
    path = write(
        tmp_path / "api.jsonl", api_line("aaa", 200.0, 50.0), api_line("bbb", 20.0, 500.0, connections=1000)
    )
    report = compare.compare([path], threshold=0.10)
    assert report.regressions == [] and report.compared == 0
    assert any("parameters differ (wrk.connections 32 → 1000)" in note for note in report.notes)
    to_s3 = write(
        tmp_path / "dr.jsonl",
        {"bench": "dr", "to": "folder", "restore_s": 10.0},
        {"bench": "dr", "to": "s3", "restore_s": 30.0},
    )
    notes = compare.compare([to_s3], threshold=0.10).notes
    assert notes == ["dr.jsonl dr: parameters differ (to folder → s3): not compared"]


def test_baselines_previous_first_and_a_commit(compare: ModuleType, tmp_path: Path) -> None:
    lines = [{"bench": "x", "commit": c, "events_per_s": v} for c, v in (("c1", 100), ("c2", 50), ("c3", 52))]
    path = write(tmp_path / "x.jsonl", *lines)
    assert compare.compare([path], threshold=0.10).regressions == []  # c3 against c2: +4 %
    first = compare.compare([path], threshold=0.10, baseline="first").regressions
    assert [(c.before, c.after) for c in first] == [(100, 52)]
    assert [
        (c.before, c.after) for c in compare.compare([path], threshold=0.1, baseline="c1").regressions
    ] == [(100, 52)]
    only = compare.compare([path], threshold=0.1, baseline="nope")
    assert only.compared == 0 and "nothing to compare" in only.notes[0]


def test_each_benchmark_of_a_file_and_nested_metrics(compare: ModuleType, tmp_path: Path) -> None:
    path = write(
        tmp_path / "mixed.jsonl",
        {"bench": "a", "file": {"put": {"p50_ms": 10.0}}},
        {"bench": "b", "file": {"put": {"p50_ms": 10.0}}},
        {"bench": "a", "file": {"put": {"p50_ms": 30.0}}},  # a regressed; b has one run only
    )
    report = compare.compare([path], threshold=0.10)
    assert [(c.bench, c.metric) for c in report.regressions] == [("a", "file.put.p50_ms")]
    assert any(note.startswith("mixed.jsonl b: one run only") for note in report.notes)


def test_the_command_exits_non_zero_on_regression_with_fail(tmp_path: Path) -> None:
    path = write(tmp_path / "api.jsonl", api_line("aaa", 200.0, 50.0), api_line("bbb", 100.0, 50.0))
    assert run(str(path)).returncode == 0  # reported, but no --fail
    proc = run(str(path), "--fail")
    assert proc.returncode == 1
    assert (
        "REGRESSIONS (1):" in proc.stdout and "runs.rps: 200 → 100 (-50.0%, higher is better)" in proc.stdout
    )
    report = json.loads(run(str(path), "--json").stdout)
    assert [r["metric"] for r in report["regressions"]] == ["runs.rps"] and report["regressions"][0][
        "change"
    ] == -0.5
    same = write(tmp_path / "same.jsonl", api_line("aaa", 200.0, 50.0), api_line("bbb", 199.0, 50.0))
    assert run(str(same), "--fail").returncode == 0


def test_unreadable_results_are_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"bench": "x", "rps": 1}\n{not json\n')
    proc = run(str(bad))
    assert proc.returncode == 2 and "bad.jsonl:2: not JSON" in proc.stderr


def test_scripts_that_write_no_results_are_listed(compare: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "bench_good.py").write_text('RESULTS = "results/good.jsonl"\n')
    (tmp_path / "bench_quiet.py").write_text("print('42 ms')\n")
    (tmp_path / "_common.py").write_text("")
    assert compare.scripts_without_results(tmp_path) == ["bench_quiet.py"]


def test_the_repository_results_files_are_readable(compare: ModuleType) -> None:
    files = sorted((SCRIPT.parent / "results").glob("*.jsonl"))
    assert files
    for path in files:
        assert compare.read_runs(path), path.name
