"""The Keras repository's antirectifier example, data swapped for the offline MNIST subset.

Source: https://github.com/keras-team/keras/blob/keras-2/examples/antirectifier.py
Kept: the ``Antirectifier`` layer (centre, L2-normalise, concatenate the positive and
negative parts), the model, ``rmsprop``, categorical cross-entropy, batch 128, 40 epochs.
"""

import keras
from keras import layers, ops

SOURCE = "https://github.com/keras-team/keras/blob/keras-2/examples/antirectifier.py"
EPOCHS, BATCH_SIZE, FIT = 40, 128, {"validation_split": 0.1}
SCORE = "accuracy"


class Antirectifier(layers.Layer):
    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * input_shape[-1])

    def call(self, inputs):
        inputs = inputs - ops.mean(inputs, axis=1, keepdims=True)
        inputs = inputs / ops.maximum(ops.norm(inputs, axis=1, keepdims=True), 1e-12)
        return ops.concatenate([ops.relu(inputs), ops.relu(-inputs)], axis=1)


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
        layers.Dense(256),
        Antirectifier(),
        layers.Dropout(0.1),
        layers.Dense(256),
        Antirectifier(),
        layers.Dropout(0.1),
        layers.Dense(10),
        layers.Activation("softmax"),
    ])


def optimizer():
    return keras.optimizers.get("rmsprop")


def compile_kwargs():
    return {"loss": "categorical_crossentropy", "metrics": ["accuracy"]}
