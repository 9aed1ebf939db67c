"""The Keras repository's MNIST CNN example, data swapped for the offline MNIST subset.

Source: https://github.com/keras-team/keras/blob/keras-2/examples/mnist_cnn.py
Kept: the model, ``Adadelta()`` (whose default rate is 0.001 in Keras 3, 1.0 in Keras 2:
the script as it runs today), categorical cross-entropy, batch 128, 12 epochs.
"""

import keras
import numpy as np
from keras import layers

SOURCE = "https://github.com/keras-team/keras/blob/keras-2/examples/mnist_cnn.py"
EPOCHS, BATCH_SIZE, FIT = 12, 128, {"validation_split": 0.1}
SCORE = "accuracy"


def data():
    from _data import mnist

    (x_train, y_train), (x_test, y_test) = mnist()
    x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
    x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
    return ((x_train, keras.utils.to_categorical(y_train, 10)),
            (x_test, keras.utils.to_categorical(y_test, 10)))


def model():
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def optimizer():
    return keras.optimizers.Adadelta()


def compile_kwargs():
    return {"loss": "categorical_crossentropy", "metrics": ["accuracy"]}
