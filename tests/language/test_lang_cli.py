"""``top10 lang`` through the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TOP10 = Path(sys.executable).with_name("top10")


def run_cli(tmp_path, lines, *args):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "TIKTOK_TOP10_DATA_ROOT": str(tmp_path / "data")}
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    return subprocess.run([str(TOP10), "lang", str(src), *args], capture_output=True, text=True, env=env, timeout=120)


def test_one_output_line_per_input_and_malformed_lines_reported(tmp_path):
    lines = [
        json.dumps({"id": "a1", "title": "오늘 점심 뭐 먹지 ㅋㅋ", "author": "먹방러"}),
        "{not json",
        json.dumps({"id": "a3", "title": "Hoy vamos a bailar con mis amigas #추천", "author": "Lucía"}),
        json.dumps({"title": "no id here"}),
        json.dumps({"id": 5, "title": "", "author": "🥐"}),
    ]
    result = run_cli(tmp_path, lines, "--detector", "lingua")
    assert result.returncode == 1
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert out == [
        {"id": "a1", "korean": True, "language": "ko", "basis": "title", "detector": "script"},
        {"id": "a3", "korean": False, "language": "es", "basis": "title", "detector": "lingua"},
        {"id": 5, "korean": False, "language": None, "basis": "none", "detector": "script"},
    ]
    errors = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert [(e["line"], e["id"]) for e in errors] == [(2, None), (4, None)]


def test_clean_input_exits_zero_and_rerun_reads_the_cache(tmp_path):
    lines = [json.dumps({"id": "b1", "title": "Good morning everyone, coffee first", "author": "Sam"})]
    first = run_cli(tmp_path, lines, "--detector", "lingua")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["detector"] == "lingua"
    second = run_cli(tmp_path, lines, "--detector", "lingua")
    assert json.loads(second.stdout)["detector"] == "cache:lingua"


def test_google_without_credentials_exits_2(tmp_path):
    result = run_cli(tmp_path, ['{"id": 1, "title": "hi", "author": "x"}'], "--detector", "google")
    assert result.returncode == 2 and "credentials" in result.stderr
