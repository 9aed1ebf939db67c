"""Data: the embedded digits, generated sets, file loading, splits, subsets and folds."""

from keras_recipes.data.dataset import (
    DATASET_NAMES,
    KERAS_DATASETS,
    OFFLINE_DATASETS,
    Dataset,
    DatasetUnavailableError,
    load_dataset,
)
from keras_recipes.data.splits import Fold, Splits, Subset, class_labels, kfold, split, subset

__all__ = [
    "DATASET_NAMES",
    "KERAS_DATASETS",
    "OFFLINE_DATASETS",
    "Dataset",
    "DatasetUnavailableError",
    "Fold",
    "Splits",
    "Subset",
    "class_labels",
    "kfold",
    "load_dataset",
    "split",
    "subset",
]
