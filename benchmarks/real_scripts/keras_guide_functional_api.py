"""The Keras guide "The Functional API", its MNIST training example.

Source: https://keras.io/guides/functional_api/
Kept: 64-64 ReLU, a logits head, ``SparseCategoricalCrossentropy(from_logits=True)``,
``RMSprop()``, batch 64, 2 epochs, ``validation_split=0.2``, the scaling to [0, 1].
"""

import keras
from keras import layers

SOURCE = "https://keras.io/guides/functional_api/"
EPOCHS, BATCH_SIZE, FIT = 2, 64, {"validation_split": 0.2}
SCORE = "accuracy"


def data():
    from _data import mnist

    (x_train, y_train), (x_test, y_test) = mnist()
    x_train = x_train.reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255
    return (x_train, y_train), (x_test, y_test)


def model():
    inputs = keras.Input(shape=(784,))
    x = layers.Dense(64, activation="relu")(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def optimizer():
    return keras.optimizers.RMSprop()


def compile_kwargs():
    return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
