"""rdlab: rate–distortion hyperparameter studies of Gaussian VAEs.

Conventions (DESIGN §2): every loss term is a sum over data dimensions and a mean over
examples, in nats per example; β multiplies only the rate.

``rdlab.open_study(path_or_uri)`` and ``rdlab.open_mlflow(uri, experiment)`` open studies
in a notebook (:mod:`rdlab.notebook`); they are imported on first use, so ``import rdlab``
stays light (no pandas, pyarrow or MLflow until then).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rdlab.notebook import StudyView, open_mlflow, open_study

__all__ = ["StudyView", "__version__", "open_mlflow", "open_study"]
_LAZY = {"open_study", "open_mlflow", "StudyView"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from rdlab import notebook  # lazy: pandas/pyarrow, only for the notebook API

        return getattr(notebook, name)
    raise AttributeError(f"module 'rdlab' has no attribute {name!r}")
