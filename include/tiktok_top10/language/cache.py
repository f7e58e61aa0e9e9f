"""Persistent detection cache: text hash → detection, one file per detector configuration.

Reruns and backfills send nothing twice: a text is looked up by the SHA-256 of exactly what the detector would
receive.  The file is rewritten atomically after every batch (a task that dies halfway keeps what it paid
for), merging what is on disk first so two runs writing at once lose no entries.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .. import storage
from .detectors import Detection


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class DetectionCache:
    def __init__(self, directory: Path | None, cache_id: str):
        self.path = None if directory is None else Path(directory) / f"{cache_id}.json"
        self.entries: dict[str, list] = self._load() if self.path else {}
        self.hits = 0

    def _load(self) -> dict[str, list]:
        if not self.path.exists():
            return {}
        try:
            data = storage.read_json(self.path)
        except (OSError, json.JSONDecodeError):
            return {}  # a damaged cache costs requests, never a wrong answer
        return data if isinstance(data, dict) else {}

    def get(self, text: str) -> Detection | None:
        entry = self.entries.get(text_key(text))
        if entry is None:
            return None
        self.hits += 1
        return Detection(entry[0], entry[1])

    def put_many(self, texts: list[str], detections: list[Detection]) -> None:
        for text, det in zip(texts, detections, strict=True):
            self.entries[text_key(text)] = [det.language, det.confidence]
        self.flush()

    def flush(self) -> None:
        if self.path is None:
            return
        merged = self._load()
        merged.update(self.entries)
        self.entries = merged
        storage.atomic_write_text(self.path, json.dumps(merged, ensure_ascii=False, sort_keys=True))
