"""Image grids shared by ``ErrorAnalysis.plot_examples`` and ``preview_augmentation``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def image_shape_of(x: np.ndarray, image_shape: Sequence[int] | None) -> tuple[int, ...]:
    """The shape each example is shown with: ``(h, w)`` or ``(h, w, 1|3|4)``.

    Flat examples whose length is a perfect square are shown as square grey images.
    """
    per_example = tuple(x.shape[1:])
    if image_shape is not None:
        shape = tuple(int(d) for d in image_shape)
        if int(np.prod(shape)) != int(np.prod(per_example)):
            raise ValueError(
                f"Argument `image_shape` must hold as many values as one example "
                f"({int(np.prod(per_example))}). Received: image_shape={tuple(image_shape)}"
            )
    elif len(per_example) == 2 or (len(per_example) == 3 and per_example[-1] in (1, 3, 4)):
        shape = per_example
    elif len(per_example) == 1 and math.isqrt(per_example[0]) ** 2 == per_example[0]:
        side = math.isqrt(per_example[0])
        shape = (side, side)
    else:
        raise ValueError(
            "The examples are not images: each must have shape (h, w), (h, w, 1|3|4), or be "
            "flat with a square length; pass `image_shape` to reshape them. "
            f"Received: example shape={per_example}"
        )
    if len(shape) == 3 and shape[-1] not in (1, 3, 4):
        raise ValueError(f"Argument `image_shape` must end with 1, 3 or 4 channels. "
                         f"Received: image_shape={shape}")
    return shape


def as_image(row: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """One example reshaped for ``imshow`` and scaled to [0, 1] for colour images."""
    img = np.asarray(row, dtype="float64").reshape(shape)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 3:
        low, high = np.nanmin(img), np.nanmax(img)
        img = (img - low) / (high - low) if high > low else np.zeros_like(img)
    return img


def grid_figure(images: list[np.ndarray], titles: list[str], ncols: int, cell: float = 1.6):
    """A matplotlib Figure with one image per axis; never shown."""
    from matplotlib.figure import Figure

    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(cell * ncols, (cell + 0.35) * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < n:
            ax.imshow(images[k], cmap="gray_r" if images[k].ndim == 2 else None,
                      interpolation="nearest")
            ax.set_title(titles[k], fontsize=7)
    return fig
