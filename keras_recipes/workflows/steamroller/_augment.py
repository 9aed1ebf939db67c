"""Light data augmentation for the steamroller's stages 2 and 3, as a ``PyDataset``.

Augmenting on the host keeps the model itself unchanged (no augmentation layers inside it),
so the saved ``.keras`` model, the diagnostics and the error analysis see the plain network.
"""

from __future__ import annotations

import keras
import numpy as np


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled batches with Gaussian noise and, for images, random one-pixel shifts.

    Noise: ``x + strength · std_j(x_train) · N(0, 1)``, with ``std_j`` the standard deviation
    of each feature (tables) or channel (images), so that every input is perturbed on its own
    scale: one global standard deviation would drown the small-scale columns of a table
    whose columns span several orders of magnitude. Images (``(n, h, w, c)``) are also
    shifted by −1, 0 or +1 pixel along each axis, with zero fill; a digit moved by one pixel
    keeps its class. The draw depends on ``seed`` and the epoch only.
    """

    def __init__(self, x, y, batch_size: int, strength: float, seed: int = 0):
        super().__init__()
        self.x = np.asarray(x, dtype="float32")
        self.y = np.asarray(y)
        self.batch_size = int(batch_size)
        self.strength = float(strength)
        self.scale = np.std(self.x, axis=tuple(range(self.x.ndim - 1))).astype("float32")
        self.seed = int(seed)
        self.epoch = 0
        self._order = self._permutation()

    def _permutation(self) -> np.ndarray:
        return np.random.default_rng((self.seed, self.epoch)).permutation(len(self.x))

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index: int):
        idx = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        xb = self.x[idx]
        if xb.ndim == 4:
            xb = _shift(xb, rng)
        if self.strength > 0:
            xb = xb + (self.strength * self.scale
                       * rng.standard_normal(xb.shape)).astype("float32")
        return xb, self.y[idx]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._order = self._permutation()


def _shift(xb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = np.zeros_like(xb)
    h, w = xb.shape[1:3]
    for i, (dy, dx) in enumerate(rng.integers(-1, 2, size=(len(xb), 2))):
        src = xb[i, max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
        out[i, max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
    return out
