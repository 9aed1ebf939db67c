"""The steamroller's data plan: which examples and classes each of the three stages sees."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from keras_recipes._validation import check_number, received
from keras_recipes.data import class_labels, split, subset

#: Name and goal of each stage (seed 000, "méthode rouleau compresseur").
STAGE_GOALS = {
    1: ("overfit", "a few examples of a few classes, no regularisation, no augmentation: "
                   "prove the network can overfit"),
    2: ("generalise", "all the data of those classes, some regularisation and augmentation: "
                      "prove the network can generalise"),
    3: ("train", "all the data and all the classes, a schedule, a bigger network: "
                 "normal training"),
}


class StageData(NamedTuple):
    """The data of one steamroller stage.

    ``train``, ``val`` and ``test`` are ``(x, y)`` pairs whose labels are remapped to
    ``0..num_classes-1``; ``classes`` lists the original labels in that order.
    """

    stage: int
    name: str
    goal: str
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    classes: list[int]
    class_names: list[str]

    @property
    def num_classes(self) -> int:
        """Number of classes this stage trains on."""
        return len(self.classes)

    def sizes(self) -> dict[str, int]:
        """``{"train": n, "val": n, "test": n}``."""
        return {"train": len(self.train[0]), "val": len(self.val[0]),
                "test": len(self.test[0])}


def resolve_stage_classes(stage_classes: int | Sequence[int], y) -> list[int]:
    """The original labels of the stage-1/2 classes, checked against ``y``.

    An int ``k`` picks the first ``k`` labels in sorted order; a sequence is taken as is.

    Raises:
        ValueError: ``k < 2``, ``k`` larger than the number of classes, or labels that are
            repeated or absent from ``y``.
    """
    present = [int(c) for c in np.unique(y)]
    if isinstance(stage_classes, int | np.integer) and not isinstance(stage_classes, bool):
        if stage_classes > len(present):
            raise ValueError(
                f"Argument `stage_classes` must be <= the number of classes "
                f"({len(present)}). {received(stage_classes=stage_classes)}"
            )
        check_number("stage_classes", stage_classes, low=2, integer=True)
        return present[: int(stage_classes)]
    if isinstance(stage_classes, str | bytes) or not isinstance(stage_classes, Sequence):
        raise ValueError(
            "Argument `stage_classes` must be an int >= 2 or a list of class labels. "
            f"{received(stage_classes=stage_classes)}"
        )
    chosen = [int(c) for c in stage_classes]
    if len(chosen) < 2 or len(set(chosen)) != len(chosen):
        raise ValueError(
            "Argument `stage_classes` must list at least 2 distinct class labels. "
            f"{received(stage_classes=list(stage_classes))}"
        )
    missing = sorted(set(chosen) - set(present))
    if missing:
        raise ValueError(
            f"Argument `stage_classes` holds labels {missing} that are not classes of the "
            f"data set (classes: {present}). {received(stage_classes=list(stage_classes))}"
        )
    return chosen


def plan_stages(
    x,
    y,
    class_names: Sequence[str] | None = None,
    stage_classes: int | Sequence[int] = 2,
    stage1_per_class: int = 10,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    seed: int = 0,
) -> list[StageData]:
    """Split the data once, then cut the three stages out of the same split.

    The whole data set is split (stratified) into train / val / test first, and every stage
    draws from those parts only, so no stage ever trains on the final test set:

    - stage 1: ``stage1_per_class`` training examples of each of ``stage_classes``
      classes (val/test: those classes' val/test examples, for reference only);
    - stage 2: every train/val/test example of those classes;
    - stage 3: everything.

    Use it to inspect what the steamroller will train on, or to run the stages by hand.

    Args:
        x: inputs, with a leading batch axis.
        y: integer class labels.
        class_names: one name per class label. Defaults to the labels as strings.
        stage_classes: number of classes of stages 1–2 (the first ``k`` labels), or the
            list of labels. Defaults to ``2``.
        stage1_per_class: training examples per class in stage 1, ``>= 1``.
            Defaults to ``10``.
        fractions: train / val / test fractions. Defaults to ``(0.6, 0.2, 0.2)``.
        seed: seed of the split and of the draw. Defaults to ``0``.

    Returns:
        A list of three :class:`StageData`.

    Raises:
        ValueError: continuous targets, a bad ``stage_classes``, ``stage1_per_class < 1``
            or larger than the training examples of a chosen class.

    Example:

    >>> from keras_recipes.data import load_dataset
    >>> from keras_recipes.workflows import plan_stages
    >>> ds = load_dataset("digits")
    >>> plan = plan_stages(ds.x, ds.y, stage_classes=2, stage1_per_class=10)
    >>> len(plan[0].train[0]), plan[0].classes, plan[2].num_classes
    (20, [0, 1], 10)
    """
    labels = class_labels(y)
    if labels is None:
        raise ValueError("The steamroller needs class labels; `y` holds continuous targets.")
    check_number("seed", seed, integer=True)
    chosen = resolve_stage_classes(stage_classes, labels)
    check_number("stage1_per_class", stage1_per_class, low=1, integer=True)
    if len(fractions) != 3:
        raise ValueError("Argument `fractions` must hold 3 values (train, val, test). "
                         f"{received(fractions=tuple(fractions))}")
    train, val, test = split(x, labels, fractions=fractions, seed=seed)
    smallest = min(int(np.sum(train[1] == c)) for c in chosen)
    if stage1_per_class > smallest:
        raise ValueError(
            f"Argument `stage1_per_class` must be <= {smallest}, the training examples of "
            f"the smallest chosen class. {received(stage1_per_class=stage1_per_class)}"
        )
    names = [str(c) for c in range(int(labels.max()) + 1)] if class_names is None \
        else [str(n) for n in class_names]

    def cut(part, per_class=None):
        s = subset(part[0], part[1], classes=chosen, per_class=per_class, seed=seed)
        return s.x, s.y

    small_names = [names[c] if c < len(names) else str(c) for c in chosen]
    all_classes = list(range(len(names)))
    plan = []
    for stage, tr, va, te, classes, cls_names in (
        (1, cut(train, int(stage1_per_class)), cut(val), cut(test), chosen, small_names),
        (2, cut(train), cut(val), cut(test), chosen, small_names),
        (3, train, val, test, all_classes, names),
    ):
        name, goal = STAGE_GOALS[stage]
        plan.append(StageData(stage, name, goal, tr, va, te, list(classes), list(cls_names)))
    return plan
