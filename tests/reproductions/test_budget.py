"""Budgets read back from the RD rows' configs: steps = epochs × batches per epoch (fresh
batches for generated data, ⌈train / batch size⌉ for a dataset), seeds, evaluation sizes."""

from __future__ import annotations

from rdlab.config import trial_config
from rdlab.config_io import flatten

from studies.reproductions.budget import describe, trial_budget
from tests.reproductions.synthetic import row, table


def _params(data: dict[str, object]) -> dict[str, object]:
    return flatten(trial_config(data).to_dict())


TOY = {
    "dataset": {"name": "toy_manifold", "batches_per_epoch": 1000, "n_eval": 10000},
    "train": {"epochs": 20, "batch_size": 100},
    "eval": {"iwae_k": 0, "frechet": False},
}
DIGITS = {
    "dataset": {"name": "digits"},
    "train": {"epochs": 834, "batch_size": 128},
    "eval": {"iwae_k": 1000, "iwae_examples": 180, "fd_reference": "train",
             "fd_samples": 2000, "fd_bootstrap": 200},
}  # fmt: skip


def test_steps_and_sizes_of_generated_and_file_data() -> None:
    toy = trial_budget(row(params=_params(TOY))["params"])
    assert (toy.steps, toy.batches_per_epoch, toy.n_test, toy.generated) == (
        20_000, 1000, 10_000, True
    )  # fmt: skip
    assert toy.iwae_n == 0 and toy.fd_samples == 0
    digits = trial_budget(row(params=_params(DIGITS))["params"])
    assert digits.batches_per_epoch == 12  # ⌈1,437 / 128⌉
    assert digits.steps == 834 * 12 and digits.n_test == 180 and not digits.generated
    assert (digits.iwae_k, digits.iwae_n) == (1000, 180)
    assert (digits.fd_samples, digits.fd_reference, digits.fd_reference_n) == (2000, "train", 1437)


def test_describe_counts_trials_per_budget() -> None:
    def toy(seed: int, epochs: int) -> dict[str, object]:
        return _params({**TOY, "train": {"batch_size": 100, "seed": seed, "epochs": epochs}})

    rows = [row(dataset="toy_manifold", params=toy(s, e)) for s in range(3) for e in (10, 20)]
    (line,) = describe(table(rows))
    assert line.startswith("toy_manifold — steps per trial: 10,000 (3 trials), 20,000 (3 trials)")
    assert "3 seeds (0, 1, 2)" in line and "10,000 fresh points" in line
