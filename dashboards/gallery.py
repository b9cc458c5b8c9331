"""Fetch the sample gallery's pictures (the I/O beside ``data.gallery``'s pure layout).

Each listed picture is read through its study folder's Storage (local or an object
store), ``reconstructions.png`` is cut into its inputs half and its reconstructions half,
and every column gets one display box, so pictures of one kind share a size and, when
their pixel sizes agree (one dataset), a scale. A picture listed but not found is never
dropped silently: it becomes a warning naming the trial and the file.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rdlab.dashboards.data import GalleryTable, PictureRef
from rdlab.storage import Storage

# Display width (CSS px) per column kind: grids of 16 inputs get more room than 8×8
# sample grids; plots are drawn at their own resolution and shown at about half of it.
WIDTHS = {
    "data": 256,
    "reconstruction": 256,
    "prior": 150,
    "gmm": 150,
    "sigma_map": 300,
    "scatter": 480,
    "norms": 300,
}
_WHITE = 250  # padding between tiles is white (1.0 → 255); allow for rounding


@dataclass(frozen=True)
class Picture:
    png: bytes
    width: int
    height: int


@dataclass(frozen=True)
class LoadedGallery:
    """A gallery table with its pictures (None: an empty cell) and one box per column."""

    table: GalleryTable
    pictures: tuple[tuple[Picture | None, ...], ...]
    boxes: tuple[tuple[int, int], ...]


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, without decoding it."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def split_halves(png: bytes) -> tuple[bytes, bytes]:
    """The top and bottom halves of a two-row image grid, without the white padding row
    between them (rdlab.evaluate.render draws inputs above their reconstructions); both
    halves get the same height."""
    from PIL import Image

    img = Image.open(io.BytesIO(png))
    grey = np.asarray(img.convert("L"))
    white: np.ndarray = np.asarray((grey >= _WHITE).all(axis=1), dtype=bool)
    cut = grey.shape[0] // 2
    if white[cut]:  # the padding band is centred: cut at its first row
        while cut > 1 and white[cut - 1]:
            cut -= 1
    width, height = img.size
    halves = []
    for box in ((0, 0, width, cut), (0, height - cut, width, height)):
        buf = io.BytesIO()
        img.crop(box).save(buf, format="PNG")
        halves.append(buf.getvalue())
    return halves[0], halves[1]


class _Reader:
    """Reads each listed file once (two columns share reconstructions.png)."""

    def __init__(self, root_of: Callable[[str], Storage | None]) -> None:
        self.root_of = root_of
        self.cache: dict[tuple[str, str], bytes | None] = {}

    def where(self, ref: PictureRef) -> str:
        root = self.root_of(ref.study)
        return root.uri_of(ref.rel) if root is not None else ref.rel

    def read(self, ref: PictureRef) -> bytes | None:
        key = (ref.study, ref.rel)
        if key not in self.cache:
            root = self.root_of(ref.study)
            try:
                self.cache[key] = None if root is None else root.read_bytes(ref.rel)
            except (OSError, ValueError):
                self.cache[key] = None
        return self.cache[key]


def _picture(data: bytes, part: str) -> Picture:
    if part:
        top, bottom = split_halves(data)
        data = top if part == "top" else bottom
    width, height = png_size(data)
    return Picture(data, width, height)


def _cell(reader: _Reader, ref: PictureRef, missing: list[str]) -> Picture | None:
    data = reader.read(ref)
    if data is None:
        missing.append(reader.where(ref))
        return None
    try:
        return _picture(data, ref.part)
    except (OSError, ValueError):
        missing.append(f"{reader.where(ref)} (not a readable PNG)")
        return None


def _boxes(
    table: GalleryTable, pictures: Sequence[Sequence[Picture | None]]
) -> list[tuple[int, int]]:
    boxes = []
    for j, col in enumerate(table.columns):
        width = WIDTHS.get(col.kind, 240)
        ratios = [p.height / p.width for row in pictures if (p := row[j]) is not None and p.width]
        boxes.append((width, max(1, round(width * max(ratios, default=1.0)))))
    return boxes


def load_gallery(
    tables: Sequence[GalleryTable], root_of: Callable[[str], Storage | None]
) -> tuple[list[LoadedGallery], list[str]]:
    """Pictures for every cell; warnings (one per trial) for listed pictures not found."""
    reader = _Reader(root_of)
    loaded, warnings = [], []
    for table in tables:
        pictures = []
        for row in table.rows:
            cells: list[Picture | None] = []
            missing: list[str] = []
            for ref in row.cells:
                cells.append(None if ref is None else _cell(reader, ref, missing))
            if missing:
                names = ", ".join(dict.fromkeys(missing))
                found = root_of(row.study) is not None
                why = "listed but not found" if found else "not shown (no study folder to read)"
                warnings.append(f"trial {row.trial_id}: picture(s) {why}: {names}")
            pictures.append(tuple(cells))
        boxes = _boxes(table, pictures)
        loaded.append(LoadedGallery(table, tuple(pictures), tuple(boxes)))
    return loaded, warnings
