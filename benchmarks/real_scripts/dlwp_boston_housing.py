"""Deep Learning with Python (F. Chollet, 2nd ed.), chapter 4's house-price regression.

Source: https://github.com/fchollet/deep-learning-with-python-notebooks/blob/master/chapter04_getting-started-with-neural-networks.ipynb
Kept: features standardised with the training mean and standard deviation, 64-64 ReLU and a
linear unit, ``rmsprop``, MSE loss with MAE metric, the final model's 130 epochs at
batch 16 on the whole training set. Score: test MAE (thousands of dollars), lower is better.
"""

import keras
from keras import layers

SOURCE = ("https://github.com/fchollet/deep-learning-with-python-notebooks/blob/master/"
          "chapter04_getting-started-with-neural-networks.ipynb")
EPOCHS, BATCH_SIZE, FIT = 130, 16, {}
SCORE = "mae"


def data():
    from _data import boston_housing

    (train_data, train_targets), (test_data, test_targets) = boston_housing()
    mean = train_data.mean(axis=0)
    std = train_data.std(axis=0)
    train_data = (train_data - mean) / std
    test_data = (test_data - mean) / std
    return (train_data, train_targets), (test_data, test_targets)


def model():
    return keras.Sequential([
        keras.Input(shape=(13,)),
        layers.Dense(64, activation="relu"),
        layers.Dense(64, activation="relu"),
        layers.Dense(1),
    ])


def optimizer():
    return keras.optimizers.get("rmsprop")


def compile_kwargs():
    return {"loss": "mse", "metrics": ["mae"]}
