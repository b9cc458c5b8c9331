"""One check per reproduction: ``verdict(points) -> Verdict``, pure on the RD-points table.

Each module names the claim it tests, the paper's numbers shown beside ours, and the
studies whose rows it reads. A verdict is computed from the measured numbers only.
"""

from __future__ import annotations

from studies.reproductions.checks.common import Claim, Plot, Series, Verdict

__all__ = ["Claim", "Plot", "Series", "Verdict"]
