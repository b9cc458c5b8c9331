"""rdlab: rate–distortion hyperparameter studies of Gaussian VAEs.

Conventions (DESIGN §2): every loss term is a sum over data dimensions and a mean over
examples, in nats per example; β multiplies only the rate.
"""

from __future__ import annotations

__version__ = "0.1.0"
