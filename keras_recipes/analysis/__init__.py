"""Analysis after training: error analysis, data checks, augmentation checks, k-fold CV."""

from keras_recipes.analysis.augmentation import (
    AugmentationCheck,
    check_augmentation,
    preview_augmentation,
)
from keras_recipes.analysis.check_data import DataReport, check_data
from keras_recipes.analysis.cross_validate import CrossValidationResult, cross_validate
from keras_recipes.analysis.error_analysis import ErrorAnalysis

__all__ = [
    "AugmentationCheck",
    "CrossValidationResult",
    "DataReport",
    "ErrorAnalysis",
    "check_augmentation",
    "check_data",
    "cross_validate",
    "preview_augmentation",
]
