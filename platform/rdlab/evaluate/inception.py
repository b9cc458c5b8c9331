"""Standard FID features (Heusel et al. 2017): InceptionV3's 2048 pool features, only from
weights in a local file (``eval.inception_weights``); rdlab never downloads them. Without
the file the ``fid_*`` metrics are absent, not approximated.

The network is torchvision's ``inception_v3`` with the file's state dict (e.g. torchvision's
``inception_v3_google-0cc3c7bd.pth``; the auxiliary classifier's weights are optional).
Inputs in [0, 1] are made 3-channel, resized to 299×299 (bilinear) and normalised with the
ImageNet statistics those weights expect. These features are torchvision's port, not the
TF-FID graph (pytorch-fid's ``pt_inception``): scores compare across rdlab runs and come
close to, but do not equal, published FIDs.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rdlab.errors import SpecError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SIZE = 299
MARKER = "Mixed_7c.branch_pool.conv.weight"  # the last block's weights: present in every port


def load_inception(path: str | Path, device: torch.device) -> nn.Module:
    """InceptionV3 with the local weights at ``path``; its ``fc`` replaced by the identity."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise SpecError("eval.inception_weights", f"no such file: {p} (rdlab never downloads)")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:
        raise SpecError("eval.inception_weights", f"cannot load {p}: {err}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise SpecError("eval.inception_weights", f"{p} holds no state dict")
    state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
    if MARKER not in state:  # refuse foreign files before building a 24M-parameter network
        raise SpecError("eval.inception_weights", f"{p}: not InceptionV3 weights (no {MARKER})")
    from torchvision.models import inception_v3  # heavy (seconds): only once the file is good

    net = inception_v3(weights=None, aux_logits=False, init_weights=False, transform_input=True)
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        msg = str(err).splitlines()[0][:200]
        raise SpecError("eval.inception_weights", f"{p}: not InceptionV3 weights ({msg})") from None
    net.fc = nn.Identity()  # type: ignore[assignment]
    return net.to(device).eval()


def inception_features(net: nn.Module, x: Tensor) -> Tensor:
    """Pool features [B, 2048] of images x [B, C, H, W] in [0, 1]."""
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = F.interpolate(x.clamp(0.0, 1.0), size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    mean = x.new_tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    feats: Tensor = net((x - mean) / std)
    return feats
