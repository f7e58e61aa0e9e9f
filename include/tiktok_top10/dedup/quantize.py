"""int8 backbones: torch's own post-training quantisation (``torch.ao.quantization``, FX graph mode, ``onednn``
engine), built once per weights file and cached under ``models/`` with a checksum.

The recipe (``RECIPE``; changing it changes the cache name):

* the ``onednn`` engine and its default qconfig: weights per output channel, activations per tensor (8 bits)
  with a ``HistogramObserver`` (it clips the long tail where min/max would waste the range);
* ReLU6 written as ``relu`` + ``clamp(max=6)`` (the same function) so each convolution fuses with its ReLU and is
  quantised over its non-negative output (during development, with ReLU6 left as it is, the cosine to fp32 was
  mean 0.81);
* one fp32 island: the stem (conv, BN, activation; ``FP32_ISLANDS``), the only layer that sees raw pixels.
  ``make gate-int8 GATE_ARGS=--variants`` prints the EfficientNet-Lite0 descriptors' cosine to fp32 on 48 real
  covers: mean 0.970 / min 0.900 (nearest-neighbour agreement 0.833) with every layer int8, 0.987 / 0.959
  (0.917) with the stem kept fp32; the gate itself measures the cached model on the evaluation set;
* calibrated on covers the project generates (``demo.covers``: natural-photo collages with caption overlays and
  the re-uploaders' edits), never on the evaluation set of ../shared/reference.

The cache is ``models/<backbone>-<weights sha256[:12]>-int8-<recipe>.pt`` (the converted model's state_dict:
int8 weights and every scale and zero point; read with ``weights_only=True`` into the same graph rebuilt by
``skeleton``) plus ``<same>.pt.sha256``; the file is loaded only when its bytes match that checksum, otherwise
(corrupt, truncated, half-written) it is rebuilt.

torch 2.14.1 still ships ``torch.ao.quantization.quantize_fx.prepare_fx/convert_fx`` and they work; they emit no
warning when building, but loading the cached int8 tensors prints torch's UserWarning that the quantised tensor
types (quint8/qint8, ``torch.quantize_per_tensor``) "are deprecated and will be removed in a future PyTorch
release" (pytorch issue 184982).  Before a torch upgrade, check it: the way on is torchao's pt2e quantisation
(a new dependency), and a cache written by another torch that no longer loads is rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np

from .backbones import BackboneChoice, build_model, sha256_file

log = logging.getLogger(__name__)

RECIPE = "fx-onednn-pc-hist-stemfp32-v1"
# oneDNN's qconfig (8-bit activations): int8 runs automatically only on CPUs with VNNI/AMX-INT8 (precision.py),
# where u8*s8 sums do not saturate.  On the VNNI CPU of `make gate-int8 GATE_ARGS=--variants` the x86 engine gave
# the very same descriptors.
ENGINE = "onednn"
# The layers that stay fp32 (see the module docstring for why): per backbone, (conv, its BatchNorm, its
# activation) by module path, each wrapped as one fp32 module with the activation inside, so the first quantised
# tensor is the activation's non-negative output (the model's own activation after it then acts on clipped
# values: idempotent).
FP32_ISLANDS = {
    "efficientnet-lite0": ([("net._conv_stem", "net._bn0", "net.act")], []),
    "resnet50": ([("0", "1", "2")], []),
}
CALIBRATION_SCENES = 48  # demo scenes, each as generated and once re-uploaded: 96 covers, 288 views
CALIBRATION_BATCH = 12


def cache_path(models_dir: Path, choice: BackboneChoice) -> Path:
    return Path(models_dir) / f"{choice.name}-{choice.weights_sha256[:12]}-int8-{RECIPE}.pt"


def checksum_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + ".sha256")


def calibration_views(scenes: int = CALIBRATION_SCENES) -> np.ndarray:
    """(scenes*2*3, 224, 224, 3) uint8 views of generated demo covers (each scene plain and with two edits),
    cut exactly as the fingerprint cuts real covers."""
    import tempfile

    from ..demo.covers import CoverSpec, cover_bytes
    from .images import load_views

    views = []
    with tempfile.TemporaryDirectory(prefix="int8-calibration-") as tmp:
        for scene in range(scenes):
            for k, spec in enumerate((CoverSpec(scene), CoverSpec(scene, edits=("band", "tone"), edit_seed=scene))):
                path = Path(tmp) / f"{scene}-{k}.jpg"  # through a file, as a crawled cover is decoded
                path.write_bytes(cover_bytes(spec))
                views.append(load_views(path))
    return np.concatenate(views)


def normalise(views: np.ndarray, mean, std):
    """uint8 (N, H, W, 3) views → the normalised float NCHW channels_last batch the backbone takes."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(views)).permute(0, 3, 1, 2).float()
    mean_t = torch.tensor(mean).view(1, 3, 1, 1) * 255.0
    std_t = torch.tensor(std).view(1, 3, 1, 1) * 255.0
    return ((x - mean_t) / std_t).contiguous(memory_format=torch.channels_last)


def _relu6_as_relu_clamp(model):
    """Replace every ``nn.ReLU6`` by ``relu`` then ``clamp(max=6)`` (the same function): the x86 backend fuses a
    convolution with a following ReLU, not ReLU6, so with ReLU6 each conv output is quantised over its signed
    pre-activation range and ReLU6 shares that scale, half of it spent on values ReLU6 zeroes."""
    import torch.nn as nn
    import torch.nn.functional as F

    class ReLUClamp6(nn.Module):
        def forward(self, x):
            return F.relu(x).clamp(max=6.0)

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU6):
                setattr(module, name, ReLUClamp6())
    return model


def _fp32_islands(model, backbone: str) -> list[str]:
    """Wrap each of ``backbone``'s ``FP32_ISLANDS`` (conv, BN, activation) as one module in place of its conv,
    the BN replaced by an identity; returns the module paths to keep fp32 (their qconfig is set to None)."""
    import copy

    import torch.nn as nn

    triples, plain = FP32_ISLANDS.get(backbone, ([], []))

    def put(path: str, module) -> None:
        parent, _, leaf = path.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, leaf, module)

    for conv_name, bn_name, act_name in triples:
        conv, bn, act = (model.get_submodule(n) for n in (conv_name, bn_name, act_name))
        put(conv_name, nn.Sequential(conv, bn, copy.deepcopy(act)))
        put(bn_name, nn.Identity())
    return [name for conv, bn, _ in triples for name in (conv, bn)] + list(plain)


def quantize_model(model, backbone: str, batches, islands: bool = True, quick_observers: bool = False,
                   engine: str = ENGINE):
    """The int8 version of fp32 ``model`` (eval mode), calibrated on ``batches`` (normalised float tensors);
    ``islands=False`` quantises every layer (for comparison); ``quick_observers`` swaps the histogram for min/max
    (same dtypes, so the same graph and state_dict keys: ``skeleton`` only needs the structure)."""
    import torch
    from torch.ao.quantization import MinMaxObserver, QConfig, QConfigMapping, get_default_qconfig
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = ENGINE
    # oneDNN's default: HistogramObserver activations (8-bit), per-channel symmetric weights
    qconfig = get_default_qconfig(ENGINE)
    if quick_observers:
        qconfig = QConfig(activation=MinMaxObserver.with_args(dtype=torch.quint8), weight=qconfig.weight)
    mapping = QConfigMapping().set_global(qconfig)
    model = _relu6_as_relu_clamp(model.eval())
    for name in _fp32_islands(model, backbone) if islands else []:
        mapping.set_module_name(name, None)
    example = (batches[0],)
    import torch.fx.config as fx_config

    # the quantisation tracer records a Python stack trace per graph node unless told not to: a third of the
    # time it takes to rebuild the graph for a cached model (``skeleton``), on every process that loads it
    emit = fx_config.do_not_emit_stack_traces
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fx_config.do_not_emit_stack_traces = True
        try:
            prepared = prepare_fx(model, mapping, example)
        finally:
            fx_config.do_not_emit_stack_traces = emit
        with torch.inference_mode():
            for batch in batches:
                prepared(batch)
        quantized = convert_fx(prepared)
    for message in {str(w.message) for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))}:
        log.info("torch.ao.quantization: %s", message)
    return quantized.eval()


def build(choice: BackboneChoice, views: np.ndarray | None = None):
    """Build the int8 model of ``choice`` from its fp32 weights, calibrated on ``views`` (default: the demo
    covers of ``calibration_views``)."""
    import torch

    model, mean, std = build_model(choice)
    views = calibration_views() if views is None else views
    x = normalise(views, mean, std)
    batches = list(torch.split(x, CALIBRATION_BATCH))
    return quantize_model(model, choice.name, batches)


def skeleton(choice: BackboneChoice):
    """The int8 model's structure with placeholder quantisation parameters (observers fed one tiny input), into
    which a cached state_dict loads: the converted graph is rebuilt by the same code instead of unpickled."""
    import torch

    model, _, _ = build_model(choice)
    tiny = torch.zeros(1, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    return quantize_model(model, choice.name, [tiny], quick_observers=True)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_cached(path: Path, choice: BackboneChoice):
    """The cached model of ``choice`` when the file's bytes match its checksum file, else ``None`` (saying
    why)."""
    import torch

    sums = checksum_path(path)
    if not path.is_file() or not sums.is_file():
        return None
    expected = sums.read_text(encoding="utf-8").split()[0] if sums.stat().st_size else ""
    if sha256_file(path) != expected:
        log.warning("quantised model %s does not match its checksum: rebuilding it", path)
        return None
    torch.backends.quantized.engine = ENGINE
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="TypedStorage is deprecated")  # quantised tensors
            state = torch.load(path, map_location="cpu", weights_only=True)
        model = skeleton(choice)
        model.load_state_dict(state, strict=True)
        return model.eval()
    except Exception as exc:  # a file that matched its checksum but does not fit (another torch, recipe): rebuild
        log.warning("quantised model %s does not load (%s): rebuilding it", path, exc)
        return None


def save(model, path: Path) -> str:
    """Write ``model`` and its checksum atomically (model first: a checksum never names missing bytes)."""
    import torch

    if not path.parent.is_dir():  # the models folder is the operator's: not created here
        raise FileNotFoundError(f"models folder {path.parent} does not exist")
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # quantised tensors are saved through TypedStorage, which torch warns about; nothing to act on
        warnings.filterwarnings("ignore", message="TypedStorage is deprecated")
        torch.save(model.state_dict(), buf)
    data = buf.getvalue()
    digest = _digest(data)
    for target, payload in ((path, data), (checksum_path(path), f"{digest}  {path.name}\n".encode())):
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(payload)
        tmp.replace(target)
    return digest


_BUILT: dict[Path, object] = {}  # this process's models by cache path: a read-only models folder builds once


def load_or_build(choice: BackboneChoice, models_dir: Path, views: np.ndarray | None = None):
    """The int8 model of ``choice``: from the checksummed cache under ``models_dir``, else built and cached."""
    path = cache_path(models_dir, choice)
    model = load_cached(path, choice)
    if model is not None:
        return model
    if views is None and path in _BUILT:
        return _BUILT[path]
    start = time.perf_counter()
    model = build(choice, views)
    log.info("built the int8 %s (%s) in %.1f s", choice.name, RECIPE, time.perf_counter() - start)
    try:
        save(model, path)
    except OSError as exc:  # a read-only models folder: run with the model built now, rebuild next time
        log.warning("cannot cache the quantised model at %s: %s", path, exc)
        if views is None:
            _BUILT[path] = model
    return model
