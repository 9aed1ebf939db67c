"""`batch_grid`: the examples of one batch as an image grid, titled with their labels.

Seed 000 asks to show the examples of one batch at the start of an epoch, when that is
informative (images): a glance shows inputs that are blank, saturated, transposed or
mislabelled before any training time is spent.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keras_recipes.analysis._grid import as_image, grid_figure, image_shape_of
from keras_recipes.diagnostics.inputs import leaves


def _image_input(x, image_shape) -> np.ndarray | None:
    """The first input that holds images: ``(n, h, w, 1|3|4)``, or any when a shape is given."""
    for a in leaves(x):
        a = np.asarray(a)
        if image_shape is not None:
            if a.ndim >= 2 and int(np.prod(a.shape[1:])) == int(np.prod(image_shape)):
                return a
        elif a.ndim == 4 and a.shape[-1] in (1, 3, 4):
            return a
    return None


def _label(y, i: int) -> str:
    if y is None or isinstance(y, (list, tuple, dict)):
        return f"#{i}"
    row = np.asarray(y[i]).reshape(-1)
    if row.size == 1:
        value = row[0]
        return f"y={int(value)}" if float(value).is_integer() else f"y={float(value):.3g}"
    return f"y={int(row.argmax())}"


def batch_grid(x, y=None, n: int = 16, image_shape: Sequence[int] | None = None):
    """An image grid of the first ``n`` examples of a batch, or ``None`` if not images.

    Use it to look at what the model is fed; the
    :class:`~keras_recipes.diagnostics.DiagnosticLogger` draws it from its probe batch at
    the first epoch's start.

    Args:
        x: inputs: an array ``(n, h, w, 1|3|4)``, or a list/dict whose first such array is
            drawn; with ``image_shape``, the first input holding that many values per
            example (flat images).
        y: labels shown above each image (class index, or argmax of one-hot rows), or
            ``None``. Defaults to ``None``.
        n: number of examples drawn. Defaults to ``16``.
        image_shape: ``(h, w)`` or ``(h, w, c)`` to draw inputs of another shape (e.g.
            flat 64-value digits as ``(8, 8)``). Defaults to ``None``.

    Returns:
        A ``matplotlib.figure.Figure`` (never shown), or ``None`` when no input is an
        image.

    Example:

    >>> import numpy as np
    >>> from keras_recipes.diagnostics.image_grid import batch_grid
    >>> fig = batch_grid(np.zeros((6, 8, 8, 1)), np.arange(6), n=4)
    >>> len([ax for ax in fig.axes if ax.images])
    4
    >>> batch_grid(np.zeros((6, 10))) is None
    True
    """
    images = _image_input(x, image_shape)
    if images is None or n < 1:
        return None
    shape = image_shape_of(images, image_shape)
    k = min(int(n), len(images))
    pictures = [as_image(images[i], shape) for i in range(k)]
    titles = [_label(y, i) for i in range(k)]
    return grid_figure(pictures, titles, ncols=int(np.ceil(np.sqrt(k))))
