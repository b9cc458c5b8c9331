"""Built-in model plugins; importing this package registers them (``rdlab models`` lists them)."""

from __future__ import annotations

from rdlab.models.conv import ConvVAE
from rdlab.models.mlp_resnet import MLPResNetVAE
from rdlab.models.multirate import MultiRateMLPVAE
from rdlab.models.patchgan import PatchGAN
from rdlab.models.resnet_v2 import ResNetV2VAE

__all__ = ["ConvVAE", "MLPResNetVAE", "MultiRateMLPVAE", "PatchGAN", "ResNetV2VAE"]
