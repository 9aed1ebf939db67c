"""The Keras guide "Training & evaluation with the built-in methods", its first model.

Source: https://keras.io/guides/training_with_built_in_methods/
Kept: 64-64 ReLU, softmax head, ``RMSprop(learning_rate=1e-3)``, sparse categorical
cross-entropy, batch 64, 2 epochs, the scaling to [0, 1]. The guide holds out the last
10 000 of 60 000 training images for validation; here the last 10 %.
"""

import keras
from keras import layers

SOURCE = "https://keras.io/guides/training_with_built_in_methods/"
EPOCHS, BATCH_SIZE, FIT = 2, 64, {"validation_split": 0.1}
SCORE = "sparse_categorical_accuracy"


def data():
    from _data import mnist

    (x_train, y_train), (x_test, y_test) = mnist()
    x_train = x_train.reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255
    return (x_train, y_train.astype("float32")), (x_test, y_test.astype("float32"))


def model():
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def optimizer():
    return keras.optimizers.RMSprop(learning_rate=1e-3)


def compile_kwargs():
    return {"loss": keras.losses.SparseCategoricalCrossentropy(),
            "metrics": [keras.metrics.SparseCategoricalAccuracy()]}
