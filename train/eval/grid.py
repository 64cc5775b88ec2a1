"""A picture grid of examples: one row per image, one column per method, the real image last."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .metrics import tensor_to_image, tensor_to_mask


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    """RGB uint8 tile with ``text`` on a dark band above it."""
    band = np.full((22, tile.shape[1], 3), 24, np.uint8)
    cv2.putText(band, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (235, 235, 235), 1, cv2.LINE_AA)
    return np.vstack([band, tile])


def example_grid(dataset, methods: dict, indices: list[int], path: str | Path, tile: int = 192) -> Path:
    """Writes ``path`` (PNG): for each dataset item in ``indices``, the composite, every method's
    output (frame path, each item a fresh video) and the real image, ``tile`` px high each."""
    rows = []
    for i in indices:
        item = dataset[i]
        comp = np.clip(np.rint(tensor_to_image(item["composite"])), 0, 255).astype(np.uint8)
        real = np.clip(np.rint(tensor_to_image(item["real"])), 0, 255).astype(np.uint8)
        mask = np.ascontiguousarray(tensor_to_mask(item["mask"]), dtype=np.float32)
        cells = [("composite", comp)]
        for label, h in methods.items():
            if label == "composite":
                continue
            if hasattr(h, "reset"):
                h.reset()
            cells.append((label, h(comp, mask)))
        cells.append(("real", real))
        width = round(comp.shape[1] * tile / comp.shape[0])
        row = [cv2.resize(img, (width, tile), interpolation=cv2.INTER_AREA) for _, img in cells]
        if not rows:
            row = [_label(t, name) for t, (name, _) in zip(row, cells)]
        rows.append(np.hstack(row))
    grid = np.vstack(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return path
