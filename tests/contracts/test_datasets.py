"""Every registered dataset plugin (rdlab.data.DataSource); file-based ones without their
files on this machine are checked for the refusal only."""

from __future__ import annotations

from rdlab.testing import DatasetContract

from tests.contracts import small


class TestDatasets(DatasetContract):
    options = small.DATASETS
