"""keras-io "Simple MNIST convnet" (F. Chollet), data swapped for the offline MNIST subset.

Source: https://keras.io/examples/vision/mnist_convnet/
Kept: the model, Adam's defaults, categorical cross-entropy, batch 128, 15 epochs,
``validation_split=0.1``, the scaling to [0, 1] and the one-hot labels.
"""

import keras
import numpy as np
from keras import layers

SOURCE = "https://keras.io/examples/vision/mnist_convnet/"
EPOCHS, BATCH_SIZE, FIT = 15, 128, {"validation_split": 0.1}
SCORE = "accuracy"


def data():
    from _data import mnist

    (x_train, y_train), (x_test, y_test) = mnist()
    x_train = np.expand_dims(x_train.astype("float32") / 255, -1)
    x_test = np.expand_dims(x_test.astype("float32") / 255, -1)
    y_train = keras.utils.to_categorical(y_train, 10)
    y_test = keras.utils.to_categorical(y_test, 10)
    return (x_train, y_train), (x_test, y_test)


def model():
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])


def optimizer():
    return keras.optimizers.Adam()


def compile_kwargs():
    return {"loss": "categorical_crossentropy", "metrics": ["accuracy"]}
