"""KerasTuner's "Getting started", its ``build_model`` at the search space's defaults.

Source: https://keras.io/keras_tuner/getting_started/
Kept: Flatten → Dense(units, relu) → Dense(10, softmax) with the hyperparameters' default
values (``units`` 32, no dropout, ``learning_rate`` 1e-4 — each ``hp`` object's
``min_value`` default), Adam, categorical cross-entropy, 2 epochs (the search's), the
default batch of 32; a ``Sequential`` model without an ``Input`` layer, as in the guide.
"""

import keras
from keras import layers

SOURCE = "https://keras.io/keras_tuner/getting_started/"
EPOCHS, BATCH_SIZE, FIT = 2, 32, {"validation_split": 0.1}
SCORE = "accuracy"


def data():
    from _data import mnist

    (x_train, y_train), (x_test, y_test) = mnist()
    x_train = x_train.astype("float32") / 255.0
    x_test = x_test.astype("float32") / 255.0
    return ((x_train, keras.utils.to_categorical(y_train, 10)),
            (x_test, keras.utils.to_categorical(y_test, 10)))


def model():
    return keras.Sequential([
        layers.Flatten(),
        layers.Dense(units=32, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def optimizer():
    return keras.optimizers.Adam(learning_rate=1e-4)


def compile_kwargs():
    return {"loss": "categorical_crossentropy", "metrics": ["accuracy"]}
