"""The Keras repository's MNIST MLP example, data swapped for the offline MNIST subset.

Source: https://github.com/keras-team/keras/blob/keras-2/examples/mnist_mlp.py
Kept: 512-512 ReLU with dropout 0.2, ``RMSprop()``, categorical cross-entropy, batch 128,
20 epochs, the scaling to [0, 1]. The script validates on its test set, which does not
change training; here the validation set is 10 % of the training set.
"""

import keras
from keras import layers

SOURCE = "https://github.com/keras-team/keras/blob/keras-2/examples/mnist_mlp.py"
EPOCHS, BATCH_SIZE, FIT = 20, 128, {"validation_split": 0.1}
SCORE = "accuracy"


def data():
    from _data import mnist

    (x_train, y_train), (x_test, y_test) = mnist()
    x_train = x_train.reshape(-1, 784).astype("float32") / 255
    x_test = x_test.reshape(-1, 784).astype("float32") / 255
    return ((x_train, keras.utils.to_categorical(y_train, 10)),
            (x_test, keras.utils.to_categorical(y_test, 10)))


def model():
    return keras.Sequential([
        keras.Input(shape=(784,)),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(512, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])


def optimizer():
    return keras.optimizers.RMSprop()


def compile_kwargs():
    return {"loss": "categorical_crossentropy", "metrics": ["accuracy"]}
