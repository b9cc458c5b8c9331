"""Draw a trial's pictures (PNG; matplotlib's Agg canvas, no pyplot state, only for the
figures that need it) from
:class:`rdlab.evaluate.pictures.PictureData`. Every function returns the paths it wrote.

Small and fast on purpose: image grids are bare PNGs (``reconstructions.png``: inputs in the
top row, reconstructions below; ``samples_prior.png``, ``samples_gmm.png``: 8 × 8 decoder
means), plots are ~80 dpi figures with fixed margins.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rdlab.evaluate.lineplot import log_line_plot
from rdlab.evaluate.pictures import Decoded, PictureData, image_grid, noisy_samples, norms

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 80
# Fixed margins: tight_layout measures every text box and costs more than the drawing.
IMAGE_MARGINS = {"left": 0.01, "right": 0.99, "bottom": 0.01, "top": 0.9}
PLOT_MARGINS = {"left": 0.17, "right": 0.97, "bottom": 0.15, "top": 0.9, "wspace": 0.25}


def render_all(data: PictureData, out_dir: Path) -> list[Path]:
    """Every picture that applies to this trial's data and σ policy, under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    if data.kind == "image":
        paths += [
            _recon(data, out_dir / "reconstructions.png"),
            _grid(data.prior.mean, out_dir / "samples_prior.png"),
        ]
        if data.gmm is not None:
            paths.append(_grid(data.gmm.mean, out_dir / "samples_gmm.png"))
        if data.sigma_maps:
            paths.append(_sigma_map(data, out_dir / "sigma_map.png"))
    elif data.kind == "points":
        paths.append(_scatter(data, out_dir / "scatter.png"))
    else:
        paths.append(_norms(data, out_dir / "norms.png"))
    if data.curves:
        paths.append(_curves(data, out_dir / "sigma_curve.png"))
    return paths


def _figure(w: float, h: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=DPI)


def _save(fig: Figure, path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI)
    return path


def _show(ax: Any, img: np.ndarray, title: str, **kw: Any) -> Any:
    opts: dict[str, Any] = {"interpolation": "nearest"}
    if img.ndim == 2:
        opts.update(cmap="gray", vmin=0.0, vmax=1.0)
    opts.update(kw)
    im = ax.imshow(img, **opts)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    return im


def _recon(data: PictureData, path: Path) -> Path:
    """Inputs in the top row, their reconstructions below."""
    n = data.inputs.shape[0]
    return _imsave(image_grid(np.concatenate([data.inputs, data.recon.mean]), cols=n), path)


def _grid(images: np.ndarray, path: Path) -> Path:
    return _imsave(image_grid(images, cols=8), path)


def _imsave(grid: np.ndarray, path: Path, min_width: int = 256) -> Path:
    """A bare image grid as an 8-bit PNG, upscaled by pixel repetition. Pillow directly:
    no axes to lay out, and no matplotlib import for trials that draw only grids."""
    from PIL import Image

    k = max(1, math.ceil(min_width / grid.shape[1]))
    big = np.repeat(np.repeat(grid, k, axis=0), k, axis=1)
    Image.fromarray(np.round(np.clip(big, 0.0, 1.0) * 255.0).astype(np.uint8)).save(path)
    return path


def _sigma_map(data: PictureData, path: Path) -> Path:
    """003 Figs. 3–4: inputs, reconstructions, σ of reconstructions; samples, their σ."""
    n = data.inputs.shape[0]
    gen = data.gmm if data.gmm is not None else data.prior
    rows: list[tuple[str, np.ndarray, bool]] = [
        ("inputs", data.inputs, False),
        ("reconstructions", data.recon.mean, False),
        ("σ of reconstructions", data.recon.sigma, True),
        ("generated", gen.mean[:n], False),
        ("σ of generated", gen.sigma[:n], True),
    ]
    s_max = float(max(data.recon.sigma.max(), gen.sigma[:n].max()))
    fig = _figure(8, 0.5 + 0.75 * len(rows))
    fig.subplots_adjust(left=0.01, right=0.86, top=0.94, bottom=0.01, hspace=0.45)
    for i, (title, imgs, is_sigma) in enumerate(rows):
        ax = fig.add_subplot(len(rows), 1, i + 1)
        if is_sigma:  # one channel: σ averaged over colour channels
            sig = imgs.mean(axis=1, keepdims=True)
            grid = image_grid(sig, cols=n, fill=float("nan"), clip=False)
            im = _show(ax, grid, title, cmap="viridis", vmin=0.0, vmax=s_max)
        else:
            _show(ax, image_grid(imgs, cols=n), title)
    fig.colorbar(im, cax=fig.add_axes((0.88, 0.08, 0.02, 0.8)), label="σ_x")
    return _save(fig, path)


def _scatter(data: PictureData, path: Path) -> Path:
    """004 Fig. 4: reconstruction (left) and generation (right), over the data in grey."""
    panels: list[tuple[str, np.ndarray, Decoded | None]] = [
        ("reconstruction", data.recon.mean, None)
    ]
    panels.append(("generation, z ~ N(0, I)", noisy_samples(data.prior, data.seed), data.prior))
    if data.gmm is not None:
        gen = noisy_samples(data.gmm, data.seed + 1)
        panels.append(("generation, z ~ GMM (003 §3.5)", gen, data.gmm))
    fig = _figure(3.2 * len(panels), 3.2)
    x = data.inputs
    for i, (title, pts, means) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1, sharex=fig.axes[0] if i else None)
        ax.scatter(x[:, 0], x[:, 1], s=2, c="0.75", label="data", rasterized=True)
        ax.scatter(pts[:, 0], pts[:, 1], s=2, c="C0", label=title.split(",")[0])
        if means is not None:
            ax.scatter(means.mean[:, 0], means.mean[:, 1], s=1, c="C3", label="μ_x(z)")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, loc="upper left", markerscale=4)
    fig.subplots_adjust(**PLOT_MARGINS)
    return _save(fig, path)


def _norms(data: PictureData, path: Path) -> Path:
    """Histograms of ‖x‖: data, reconstructions, decoded prior samples (004 Theorem 1)."""
    fig = _figure(5, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    series = [("data", data.inputs), ("reconstructions", data.recon.mean)]
    series.append(("μ_x(z), z ~ N(0, I)", data.prior.mean))
    for label, arr in series:
        ax.hist(norms(arr), bins=40, histtype="step", label=label)
    ax.set_xlabel("‖x‖")
    ax.legend(fontsize=8)
    fig.subplots_adjust(**PLOT_MARGINS)
    return _save(fig, path)


def _curves(data: PictureData, path: Path) -> Path:
    """σ against epoch: 004 §4.3's self-annealing of a learned σ (Pillow, see .lineplot)."""
    return log_line_plot(
        data.curves,
        path,
        title="decoder σ during training (self-annealing, 004 §4.3)",
        xlabel="epoch",
        ylabel="σ_x",
    )
