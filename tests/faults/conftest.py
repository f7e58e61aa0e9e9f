"""Fixtures shared by the fault-injection matrix (docs/fault-matrix.md): snapshots of what a reader of the data
root sees, and a way to run a stage in a child process that the test can kill."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def snapshot(root: Path, *, manifests: bool = True) -> dict[str, bytes]:
    """Every published file by relative path -> bytes: what the app reads (top10 trees, latest.json) and, with
    ``manifests``, the operator's per-day record (which names its run and whether that run changed files)."""
    root = Path(root)
    names = ("manifest.json", "latest.json") if manifests else ("latest.json",)
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and "residual_archive" not in rel.parts and ("top10" in rel.parts or rel.name in names):
            files[str(rel)] = path.read_bytes()
    return files


def manifest_without_run_record(path: Path) -> dict:
    """A manifest minus what legitimately differs between two runs of one day: the run's id and "changed"."""
    import json

    manifest = json.loads(Path(path).read_text())
    manifest.pop("run")
    for entry in manifest["stages"]["publish"].values():
        entry.pop("changed")
    return manifest


def leftovers(root: Path) -> list[str]:
    """Temp files and staging directories: nothing of the kind may survive a finished run."""
    return sorted(
        str(p.relative_to(root)) for p in Path(root).rglob(".*") if ".staging-" in p.name or p.name.endswith(".tmp")
    )


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIKTOK_TOP10_")}
    env.update(extra)
    return env


def start_child(code: str, *args: str, **env: str) -> subprocess.Popen:
    """A Python child running ``code`` (argv after it): a process of its own, so SIGKILL hits only it."""
    return subprocess.Popen([PYTHON, "-c", code, *args], env=child_env(**env), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="session")
def dag_bag():
    """The project's DAG parsed once (no DB needed): for the rows whose outcome is DAG wiring."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag
