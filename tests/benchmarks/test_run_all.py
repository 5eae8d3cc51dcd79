"""benchmarks/run_all.py: the one-call driver writes one JSON and one markdown table, and records failures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_driver():
    spec = importlib.util.spec_from_file_location("robattr_run_all", ROOT / "benchmarks" / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_driver_writes_json_and_markdown_with_the_machine(tmp_path):
    driver = load_driver()
    assert driver.main(["--quick", "--device", "cpu", "--only", "autocast_check", "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert {"date", "cpu", "torch", "device"} <= set(saved["machine"])
    rows = saved["results"]["autocast_check"]["rows"]
    assert len(rows) == 2 and all(0.0 <= r["topk_fp32_vs_bf16"] <= 1.0 for r in rows)
    text = (tmp_path / "results.md").read_text()
    assert "## autocast_check" in text and "| model |" in text


def test_a_failing_benchmark_is_recorded_and_the_exit_status_says_so(tmp_path, monkeypatch):
    driver = load_driver()
    (tmp_path / "broken.py").write_text("def run(quick, device):\n    raise RuntimeError('boom')\n")
    monkeypatch.setattr(driver, "HERE", tmp_path)
    monkeypatch.setattr(driver, "BENCHMARKS", {"broken": "broken.py"})
    assert driver.main(["--quick", "--device", "cpu", "--out", str(tmp_path / "out")]) == 1
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert "RuntimeError: boom" in saved["results"]["broken"]["error"]


def test_unknown_benchmark_names_are_refused():
    driver = load_driver()
    with pytest.raises(ValueError, match=r"^Expected `only` to name benchmarks among \[.*\], but got \['nope'\]$"):
        driver.run_all(True, "cpu", ["nope"])


@pytest.mark.slow
def test_every_benchmark_runs_in_quick_form(tmp_path):
    driver = load_driver()
    status = driver.main(["--quick", "--device", "cpu", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "results.json").read_text())
    errors = {name: r["error"] for name, r in saved["results"].items() if r["error"]}
    assert status == 0 and not errors, errors
    assert set(saved["results"]) == set(driver.BENCHMARKS)
