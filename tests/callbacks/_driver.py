"""Drive a callback with synthetic logs, the way ``fit`` would, without a real model."""


class FakeModel:
    """Stands in for a model: its "weights" are the index of the epoch that produced them."""

    def __init__(self):
        self.stop_training = False
        self.weights = -1

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.weights = weights


def drive(callback, rows, model=None, stop_at=None):
    """Feed one logs dict per epoch to the callback like ``fit`` would; returns epochs run.

    ``stop_at``: the epoch at whose end another callback sets ``model.stop_training``.
    """
    model = model or FakeModel()
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    epochs = 0
    for epoch, logs in enumerate(rows):
        epochs += 1
        model.weights = epoch
        callback.on_epoch_end(epoch, logs=logs)
        if stop_at is not None and epoch == stop_at:
            model.stop_training = True
        if model.stop_training:
            break
    callback.on_train_end()
    return epochs


#: ``tiny_digits`` (200 examples) splits as: the first 150 train, the other 50 validate.
TRAIN = 150


def fit_digits(model, digits, callbacks, *, epochs=6, batch_size=75):
    """Fit ``model`` on ``tiny_digits``' training part, validating on the rest; the History."""
    x, y = digits
    return model.fit(x[:TRAIN], y[:TRAIN], validation_data=(x[TRAIN:], y[TRAIN:]),
                     epochs=epochs, batch_size=batch_size, verbose=0, callbacks=callbacks)


def validation_loss(model, digits) -> float:
    """The model's loss on ``tiny_digits``' validation part, with its current weights."""
    x, y = digits
    return model.evaluate(x[TRAIN:], y[TRAIN:], verbose=0, return_dict=True)["loss"]
