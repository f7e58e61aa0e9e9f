"""Visual fingerprints of covers: one batched pipeline for the three views of every image.

Covers go through in small batches on a few worker threads, one per share of the cores: a worker either decodes
a batch (PIL and OpenCV release the GIL) or runs one through the backbone with its share of torch threads, so
decoding overlaps inference without the two fighting for cores (a decode pool beside a 2-thread torch lost a
quarter of the CPU to OpenMP's spin-waiting workers: 200 covers took 8.4 s and 16.3 CPU-s that way), and the
first batches decode while torch is still being imported.
Inference runs under ``torch.inference_mode`` in channels_last with BatchNorm folded into the convolutions, in
the precision ``precision.choose_precision`` picks for this CPU (int8 with VNNI/AMX-INT8 once the quantised model
passed its fidelity gate, bf16 autocast where bf16 is native, fp32 otherwise; ``quantize.py`` builds and caches
the int8 model) and a fixed thread count, so the numbers do not depend on what else the machine does.

Each cover yields
* a global descriptor: the three views (of the cover with letterbox bars trimmed) GeM-pooled (p = 3), averaged
  and L2-normalised.  GeM instead of the original's average pooling raised the worst re-upload's cosine from
  0.61 to 0.69 on the evaluation set (bench/eval_dedup.py);
* ORB keypoints of the cover and of its mirror image, and a small grey copy, for the second look (``verify.py``);
* with ``regions=True``, regional descriptors (``region_descriptors``): GeM over windows of the same forward pass's
  feature maps, so a cover can be matched against a crop of itself that shows another part of the frame than the
  three fixed views (``grouping.region_candidates``).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .backbones import BackboneChoice, build_model, choose_backbone, sha256_file
from .images import DescriptorInput, UnreadableImage, decode_cover

log = logging.getLogger(__name__)

GEM_P = 3.0
# Regional descriptors: (view, window side, stride) on the views' 7x7 feature maps (224-px views, stride 32).
# Windows of 4 and 5 cells see 57 % and 71 % of a view's width and height: a heavy crop (55-70 %) of the cover
# lands on one of the full view's windows, a square cut of a 9:16 cover on the center view's (which keeps the
# aspect).  Plus each view whole: the crop's own side of the match.
REGION_WINDOWS = (("full", 5, 2), ("full", 4, 3), ("center", 5, 2))
REGION_DTYPE = np.float16  # unit vectors; half precision moves a cosine by < 1e-3 and halves the memory files


def cpu_has_native_bf16() -> bool:
    from .precision import native_bf16, this_cpu_flags_text

    return native_bf16(this_cpu_flags_text())


@dataclass
class Fingerprints:
    """Descriptors of the images that decoded, in input order, plus the ones skipped and why."""

    paths: list[str]
    globals: np.ndarray  # (N, D) float32, unit rows
    keypoints: list  # per image: (plain, mirrored ORB keypoints, small grey image), see verify.detect
    skipped: list[dict] = field(default_factory=list)  # [{"path", "reason"}]
    regions: np.ndarray | None = None  # (N, R, D) REGION_DTYPE unit rows when asked for, see region_descriptors

    def __len__(self) -> int:
        return len(self.paths)


class Fingerprinter:
    """Turns image files into ``Fingerprints`` with one backbone, chosen and verified up front.

    ``threads`` cores (default: all this process may use) are split among ``min(threads, MAX_WORKERS)`` workers;
    more workers would only multiply the activation memory of a batch.  Batches are small (4 covers = 12 views):
    with 16 covers the largest activations exceed glibc's 32 MB mmap threshold, so every batch page-faulted them
    in afresh — a quarter of the forward time was spent in the kernel (measured: 30 → 35 covers/s per core)."""

    MAX_WORKERS = 4
    DECODE_AHEAD = 128  # covers decoded ahead of inference: ~80 MB of views and grey images

    def __init__(self, backbone: str = "auto", models_dir: Path | None = None, weights: Path | None = None,
                 threads: int | None = None, batch_size: int = 4, precision: str = "auto", regions: bool = False,
                 descriptor_input: DescriptorInput | None = None):
        from ..config import Settings
        from .precision import PrecisionChoice, choose_precision, this_cpu_flags_text

        self.models_dir = Path(models_dir or Settings().models_dir)
        self.choice: BackboneChoice = choose_backbone(backbone, self.models_dir, weights)
        self.threads = threads or max(1, len(os.sched_getaffinity(0)))
        self.workers = min(self.threads, self.MAX_WORKERS)
        self.batch_size = batch_size
        self.precision_choice: PrecisionChoice = choose_precision(
            precision, this_cpu_flags_text(), self.choice.name, self.choice.weights_sha256)
        self.regions = bool(regions)
        self.descriptor_input = descriptor_input  # None: the cover as decoded (images.DescriptorInput)
        self._model = None

    @property
    def name(self) -> str:
        return self.choice.name

    @property
    def precision(self) -> str:
        return self.precision_choice.precision

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"

    def _load(self):
        if self._model is None:
            import torch

            torch.set_num_threads(self.threads)
            from torch.fx.experimental.optimization import fuse

            model, mean, std = build_model(self.choice)
            if self.precision == "int8":
                from .quantize import load_or_build

                # quantisation folds BatchNorm itself; built once per weights file, cached under models/
                self._model = load_or_build(self.choice, self.models_dir)
            else:
                # BatchNorm folded into the convolutions before it: a third of lite0's time on CPU went to BN
                self._model = fuse(model).to(memory_format=torch.channels_last)
            self._mean = torch.tensor(mean).view(1, 3, 1, 1) * 255.0
            self._std = torch.tensor(std).view(1, 3, 1, 1) * 255.0
        return self._model

    def embed_views(self, views: np.ndarray):
        """Global descriptors (B, D) of a (B*3, H, W, 3) uint8 batch of views, as a torch tensor; with
        ``regions``, the tuple (globals, regional descriptors (B, R, D))."""
        import torch
        import torch.nn.functional as F

        model = self._load()
        with torch.inference_mode():
            x = torch.from_numpy(views).permute(0, 3, 1, 2).float()
            x = ((x - self._mean) / self._std).contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                fmap = model(x)
            fmap = fmap.float()
            n = fmap.shape[0] // 3
            powered = fmap.clamp(min=1e-6).pow(GEM_P)
            pooled = powered.mean((2, 3)).pow(1.0 / GEM_P).view(n, 3, -1)
            glob = F.normalize(pooled.mean(1), dim=1)
            if not self.regions:
                return glob
            return glob, region_descriptors(powered, pooled)

    @property
    def threads_per_worker(self) -> int:
        return max(1, self.threads // self.workers)

    def fingerprint(self, paths: Sequence[Path | str], digests: Sequence[str | None] | None = None) -> Fingerprints:
        """Fingerprint ``paths`` in order; unreadable files are skipped with their reason.

        Files with the same bytes are decoded and embedded once: the same cover downloaded on several days is one
        file content (39 of the 200 reference covers repeat an earlier one byte for byte).  ``digests``, the files'
        SHA-256 when the caller has them already, spares reading every file twice."""
        paths = list(paths)
        keys = list(digests) if digests is not None else [_content_key(p) for p in paths]
        first: dict[str, int] = {}
        unique: list = []
        source: list[int] = []  # per input path: its index in ``unique``
        for path, key in zip(paths, keys, strict=True):
            if key is not None and key in first:
                source.append(first[key])
                continue
            if key is not None:
                first[key] = len(unique)
            source.append(len(unique))
            unique.append(path)
        done = self._fingerprint_files(unique)
        if len(unique) == len(paths):
            return done
        row = {p: k for k, p in enumerate(done.paths)}
        reason = {s["path"]: s["reason"] for s in done.skipped}
        ok_paths, rows, skipped = [], [], []
        for path, k in zip(paths, source, strict=True):
            done_path = str(unique[k])
            if done_path in row:
                ok_paths.append(str(path))
                rows.append(row[done_path])
            else:
                skipped.append({"path": str(path), "reason": reason[done_path]})
        return Fingerprints(ok_paths, done.globals[rows], [done.keypoints[k] for k in rows], skipped,
                            done.regions[rows] if done.regions is not None else None)

    def _fingerprint_files(self, paths: list) -> Fingerprints:
        """``fingerprint`` of distinct files.

        Decoding does not need torch, so the first ``DECODE_AHEAD`` covers decode while this thread imports torch
        and loads the weights (2-4 s of a short run); after that, decode and forward tasks alternate on the
        same workers, decoding staying a bounded number of batches ahead."""
        from .verify import _cv2

        _cv2()  # OpenCV imported here, not on a worker thread while this one imports torch
        batches = [paths[k:k + self.batch_size] for k in range(0, len(paths), self.batch_size)]
        ahead = max(self.workers, self.DECODE_AHEAD // self.batch_size)
        ok_paths: list[str] = []
        globs, regs, looks, skipped = [], [], [], []

        def collect(batch_paths, decoded, glob):
            if isinstance(glob, tuple):
                glob, reg = glob
                regs.append(reg)
            if glob is not None:
                globs.append(glob)
            for path, item in zip(batch_paths, decoded, strict=True):
                if isinstance(item, UnreadableImage):
                    skipped.append({"path": str(path), "reason": item.reason})
                else:
                    ok_paths.append(str(path))
                    looks.append(item)

        with ThreadPoolExecutor(self.workers, thread_name_prefix="fingerprint") as pool:
            try:
                decoding = deque(pool.submit(self._decode_batch, b) for b in batches[:ahead])
                self._load()
                forwards: deque = deque()
                for k, batch in enumerate(batches):
                    forwards.append(pool.submit(self._embed_batch, batch, decoding.popleft().result()))
                    if k + ahead < len(batches):
                        decoding.append(pool.submit(self._decode_batch, batches[k + ahead]))
                    while forwards and forwards[0].done():
                        collect(*forwards.popleft().result())
                while forwards:
                    collect(*forwards.popleft().result())
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # bad weights: do not decode the rest first
                raise
        import torch

        dim = globs[0].shape[1] if globs else 0
        regions = None
        if self.regions:
            regions = (torch.cat(regs).numpy().astype(REGION_DTYPE) if regs
                       else np.zeros((0, n_regions(), dim), REGION_DTYPE))
        return Fingerprints(
            paths=ok_paths,
            globals=torch.cat(globs).numpy() if globs else np.zeros((0, dim), np.float32),
            keypoints=looks,
            skipped=skipped,
            regions=regions,
        )

    def _decode_batch(self, paths: list) -> list:
        """Per path: ``(views, look)`` or the ``UnreadableImage`` saying why not."""
        from .verify import detect

        decoded = []
        for path in paths:
            try:
                views, gray = decode_cover(path, self.descriptor_input)
                decoded.append((views, detect(gray)))
            except UnreadableImage as exc:
                decoded.append(exc)
            except MemoryError:
                decoded.append(UnreadableImage(path, "too large to decode in memory"))
        return decoded

    def _embed_batch(self, paths: list, decoded: list):
        """``(paths, [look | UnreadableImage], globals)``; the views are dropped once embedded."""
        import torch

        torch.set_num_threads(self.threads_per_worker)  # this worker's share; OpenMP keeps it per thread
        views = [d[0] for d in decoded if not isinstance(d, UnreadableImage)]
        glob = self.embed_views(np.concatenate(views)) if views else None
        return paths, [d if isinstance(d, UnreadableImage) else d[1] for d in decoded], glob


VIEW_INDEX = {"center": 0, "full": 1, "zoom": 2}  # the order of images.VIEWS in a cover's batch rows


def n_regions() -> int:
    """Regional descriptors per cover: the three views whole, then every window of ``REGION_WINDOWS``."""
    cells = 7  # the 224-px views' feature maps (both backbones reduce by 32)
    return 3 + sum(((cells - side) // stride + 1) ** 2 for _, side, stride in REGION_WINDOWS)


def region_descriptors(powered, pooled):
    """(B, R, D) unit regional descriptors of a batch, from its feature maps already raised to ``GEM_P``
    (``powered``: (B*3, D, h, w), views in ``VIEWS`` order) and its per-view GeM (``pooled``: (B, 3, D)): the
    views whole first, then GeM over the windows of ``REGION_WINDOWS``.  An average pool of the powered map
    is GeM of every window at once: no forward pass of its own, a few hundred microseconds per cover."""
    import torch
    import torch.nn.functional as F

    n = pooled.shape[0]
    parts = [pooled]
    for view, side, stride in REGION_WINDOWS:
        maps = powered[VIEW_INDEX[view]::3]
        windows = F.avg_pool2d(maps, side, stride).pow(1.0 / GEM_P)  # (B, D, oh, ow)
        parts.append(windows.flatten(2).transpose(1, 2))
    return F.normalize(torch.cat(parts, 1), dim=2).reshape(n, -1, pooled.shape[2])


def _content_key(path: Path | str) -> str | None:
    """SHA-256 of the file's bytes; ``None`` when it cannot be read (decoding then says why)."""
    try:
        return sha256_file(Path(path))
    except OSError:
        return None


def naive_fingerprint(choice: BackboneChoice, paths: Sequence[Path | str]) -> tuple[np.ndarray, float]:
    """The original's way, for the benchmark: one image at a time, three separate fp32 forwards."""
    import torch
    import torch.nn.functional as F
    from PIL import Image

    from .backbones import build_model

    start = time.perf_counter()
    model, mean, std = build_model(choice)
    mean_t, std_t = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)
    out = []
    for path in paths:
        img = Image.open(path).convert("RGB")
        vecs = []
        for short, _crop in ((256, True), (None, False), (400, True)):
            if short is None:
                view = img.resize((224, 224))
            else:
                w, h = img.size
                s = short / min(w, h)
                view = img.resize((round(w * s), round(h * s)))
                left, top = (view.size[0] - 224) // 2, (view.size[1] - 224) // 2
                view = view.crop((left, top, left + 224, top + 224))
            x = torch.from_numpy(np.asarray(view).copy()).permute(2, 0, 1).float() / 255.0
            with torch.no_grad():
                vecs.append(model(((x - mean_t) / std_t)[None]).mean((2, 3))[0])
        out.append(F.normalize(torch.stack(vecs).mean(0), dim=0).numpy())
    return np.stack(out), time.perf_counter() - start
