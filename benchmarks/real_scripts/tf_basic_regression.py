"""TensorFlow's "Basic regression: predict fuel efficiency", its deep model (DNN).

Source: https://www.tensorflow.org/tutorials/keras/regression
Kept: the origin one-hot encoded, a ``Normalization`` layer adapted on the training
features, 64-64 ReLU and a linear unit, ``Adam(0.001)``, mean absolute error, 100 epochs,
``validation_split=0.2``, the default batch of 32. Score: test MAE (miles per gallon).
"""

import keras
import numpy as np
from keras import layers

SOURCE = "https://www.tensorflow.org/tutorials/keras/regression"
EPOCHS, BATCH_SIZE, FIT = 100, 32, {"validation_split": 0.2}
SCORE = "loss"


def _one_hot_origin(x):
    origin = x[:, 6].astype(int)
    return np.concatenate([x[:, :6], np.stack([origin == 2, origin == 3, origin == 1],
                                              axis=1)], axis=1).astype("float32")


def data():
    from _data import auto_mpg

    (x_train, y_train), (x_test, y_test) = auto_mpg()
    return (_one_hot_origin(x_train), y_train), (_one_hot_origin(x_test), y_test)


_TRAIN = None


def model():
    global _TRAIN
    if _TRAIN is None:
        _TRAIN = data()[0][0]
    normalizer = layers.Normalization(axis=-1)
    normalizer.adapt(_TRAIN)
    return keras.Sequential([
        keras.Input(shape=(9,)),
        normalizer,
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(1),
    ])


def optimizer():
    return keras.optimizers.Adam(0.001)


def compile_kwargs():
    return {"loss": "mean_absolute_error"}
