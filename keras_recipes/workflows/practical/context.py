"""`RunContext`: the run that the steps of :func:`~keras_recipes.workflows.practical` work
in: the data and its split, the model builder, the settings, the output folder and its run
folder, printing, and the tables and figures collected for the report. What the steps
hand to each other is in :class:`~keras_recipes.workflows.practical.state.PracticalState`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from keras_recipes.workflows.common import save_figure
from keras_recipes.workflows.practical.config import PracticalConfig


class RunContext:
    """What the steps share: the data and its split, the model builder, the output folder,
    the tables and figures for the report, and printing.

    Args:
        ds: the classification :class:`~keras_recipes.data.Dataset`.
        build: ``() -> uncompiled keras.Model``.
        out: the output folder.
        config: the run's settings (``seed`` splits the data; ``verbose`` sets printing).
        stream: where to print.
        folder: the :class:`~keras_recipes.workflows.run_folder.RunFolder` that records every
            file before it is written, or ``None`` (nothing recorded).
        settings: the :class:`~keras_recipes.workflows.repair.TrainingSettings` of a run
            with ``repair`` or ``training`` (optimizer, clipping, step 2's rate), or
            ``None`` (the config's).
    """

    def __init__(self, ds, build, out: Path, config: PracticalConfig, stream: TextIO,
                 folder=None, settings=None):
        from keras_recipes.data import split

        self.ds, self.build, self.out, self.stream = ds, build, Path(out), stream
        self.config = config
        self.train, self.val, self.test = split(ds.x, ds.y, seed=config.seed)
        self.figures: dict[str, str] = {}
        self.tables: dict[str, Any] = {}
        self.folder = folder
        self.settings = settings

    def claim(self, *paths: str) -> None:
        if self.folder is not None:
            self.folder.claim(*paths)

    def say(self, text: str) -> None:
        if self.config.verbose:
            print(text, file=self.stream, flush=True)

    def fresh(self, lr: float, weight_decay: float):
        """A compiled network, from the same initial weights each time (the config's seed)."""
        import keras

        from keras_recipes.tuning import make_optimizer

        config = self.config
        keras.utils.set_random_seed(config.seed)  # every trial starts from one init
        net = self.build()
        settings = self.settings
        name = config.optimizer if settings is None or settings.optimizer is None \
            else settings.optimizer
        optimizer = make_optimizer(name, lr, weight_decay, penalty=config.penalty, model=net,
                                   batch_size=config.batch_size)
        if settings is not None:
            optimizer = settings.configure_optimizer(optimizer)
        net.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
        return net

    def figure(self, fig, name: str) -> str:
        """Save ``fig`` as ``figures/<name>.png`` for the report; the relative path."""
        rel = f"figures/{name}.png"
        self.claim(rel)
        save_figure(fig, self.out / rel, tight=True)
        self.figures[name] = rel
        return rel

    def progress(self, number: int, name: str) -> list:
        if not self.config.verbose:
            return []
        from keras_recipes.workflows.progress import StageProgress

        return [StageProgress(number, 7, name, stream=self.stream)]
