"""Deep Learning with Python (F. Chollet, 2nd ed.), chapter 2's first network.

Source: https://github.com/fchollet/deep-learning-with-python-notebooks/blob/master/chapter02_mathematical-building-blocks.ipynb
Kept: Dense(512, relu) → Dense(10, softmax), ``rmsprop``, sparse categorical
cross-entropy, batch 128, 5 epochs, the scaling to [0, 1]; no validation set.
"""

import keras
from keras import layers

SOURCE = ("https://github.com/fchollet/deep-learning-with-python-notebooks/blob/master/"
          "chapter02_mathematical-building-blocks.ipynb")
EPOCHS, BATCH_SIZE, FIT = 5, 128, {}
SCORE = "accuracy"


def data():
    from _data import mnist

    (x_train, y_train), (x_test, y_test) = mnist()
    x_train = x_train.reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255
    return (x_train, y_train), (x_test, y_test)


def model():
    return keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Dense(512, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def optimizer():
    return keras.optimizers.get("rmsprop")


def compile_kwargs():
    return {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}
