"""`Dataset` and `load_dataset`: the embedded, generated and downloadable data sets."""

from __future__ import annotations

import dataclasses
import math
import os
import socket
from pathlib import Path

import numpy as np

from keras_recipes._validation import (
    FLOAT32_MAX,
    ArgumentError,
    check_number,
    literal_text,
    template_received,
)

#: Names that work with no network: bundled in scikit-learn or generated.
OFFLINE_DATASETS = ("digits", "moons", "spirals", "blobs", "regression")
#: Names loaded through ``keras.datasets`` (downloaded once, then cached in ~/.keras).
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10")
DATASET_NAMES = OFFLINE_DATASETS + KERAS_DATASETS

_DOWNLOAD_TIMEOUT_S = 15.0


class DatasetUnavailableError(RuntimeError):
    """A ``keras.datasets`` set could not be loaded (typically: no network, no cache)."""


@dataclasses.dataclass
class Dataset:
    """A data set held in memory.

    Attributes:
        x: inputs, ``float32``, shape ``(n, *input_shape)``.
        y: targets: ``int64`` class indices for classification, ``float32`` for regression.
        class_names: one name per class, or ``None`` for regression.
        input_shape: shape of one example, without the batch axis.
        name: where the data came from.

    Example:

    >>> from keras_recipes.data import load_dataset
    >>> ds = load_dataset("digits")
    >>> ds.x.shape, ds.num_classes, ds.task
    ((1797, 8, 8, 1), 10, 'classification')
    """

    x: np.ndarray
    y: np.ndarray
    class_names: list[str] | None
    input_shape: tuple[int, ...]
    name: str = ""

    @property
    def num_classes(self) -> int | None:
        """Number of classes, or ``None`` for a regression set."""
        return None if self.class_names is None else len(self.class_names)

    @property
    def task(self) -> str:
        """``"classification"`` or ``"regression"``."""
        return "regression" if self.class_names is None else "classification"

    def __post_init__(self) -> None:
        if np.iscomplexobj(self.x) or np.iscomplexobj(self.y):
            raise ValueError(
                f"Dataset {self.name!r} holds complex numbers: Keras trains on real numbers, "
                "and casting would drop the imaginary part. Received: x of dtype "
                f"{np.asarray(self.x).dtype}, y of dtype {np.asarray(self.y).dtype}")

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        classes = "regression" if self.class_names is None else f"{self.num_classes} classes"
        return (
            f"Dataset(name={self.name!r}, n={len(self.x)}, input_shape={self.input_shape}, "
            f"{classes})"
        )


def _finish(x, y, class_names, name, flatten) -> Dataset:
    x = np.asarray(x, dtype="float32")
    if flatten:
        x = x.reshape(len(x), -1)
    if class_names is None:
        y = np.asarray(y, dtype="float32")
    else:
        y = np.asarray(y).astype("int64").reshape(-1)
    return Dataset(x=x, y=y, class_names=class_names, input_shape=tuple(x.shape[1:]), name=name)


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """``(images, target)`` of scikit-learn's digits, shapes ``(1797, 8, 8)`` and ``(1797,)``.

    The set is read with NumPy from the file the scikit-learn wheel ships
    (``sklearn/datasets/data/digits.csv.gz``, 64 pixels then the label per row, what
    ``load_digits`` reads), without importing scikit-learn, whose import (SciPy included)
    costs about a second: the command line checks its arguments against the data before
    it imports anything heavy. Where that file is not found, ``load_digits`` is called.
    """
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            data = np.loadtxt(path, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype("int64")
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images, d.target


def _digits(flatten: bool) -> Dataset:
    images, target = _digits_arrays()
    x = (images / 16.0).astype("float32")[..., None]
    return _finish(x, target, [str(i) for i in range(10)], "digits", flatten)


def _spirals(n: int, arms: int, noise: float, rng: np.random.Generator):
    per = n // arms
    xs, ys = [], []
    for k in range(arms):
        r = np.linspace(0.05, 1.0, per)
        t = 3.5 * np.pi * r + 2 * np.pi * k / arms
        pts = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
        xs.append(pts + rng.normal(scale=noise, size=pts.shape))
        ys.append(np.full(per, k))
    x, y = np.concatenate(xs), np.concatenate(ys)
    order = rng.permutation(len(x))
    return x[order], y[order]


def _generated(name: str, seed: int, flatten: bool) -> Dataset:
    from sklearn import datasets as skd

    rng = np.random.default_rng(seed)
    if name == "moons":
        x, y = skd.make_moons(n_samples=1000, noise=0.2, random_state=seed)
        names = ["0", "1"]
    elif name == "spirals":
        x, y = _spirals(1200, 3, 0.03, rng)
        names = ["0", "1", "2"]
    elif name == "blobs":
        x, y = skd.make_blobs(
            n_samples=1000, centers=4, n_features=2, cluster_std=1.0, random_state=seed
        )
        names = ["0", "1", "2", "3"]
    else:  # regression: a smooth non-linear target of 8 features, plus noise
        x = rng.uniform(-1, 1, size=(1000, 8))
        y = np.sin(np.pi * x[:, 0]) + x[:, 1] * x[:, 2] + 0.5 * x[:, 3] ** 2
        y = (y + rng.normal(scale=0.05, size=len(y)))[:, None]
        names = None
    return _finish(x, y, names, name, flatten)


def _keras_dataset(name: str, flatten: bool) -> Dataset:
    import keras

    loader = getattr(keras.datasets, name)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        (x_tr, y_tr), (x_te, y_te) = loader.load_data()
    except Exception as exc:  # noqa: BLE001 - any failure of the download is reported the same way
        raise DatasetUnavailableError(
            f"Could not load {name!r} through keras.datasets: {type(exc).__name__}: {exc}. "
            "It is downloaded on first use, so it needs the network once (or a copy in "
            "~/.keras/datasets). Use load_dataset('digits'), which is bundled and works offline."
        ) from exc
    finally:
        socket.setdefaulttimeout(previous)
    x = np.concatenate([x_tr, x_te]).astype("float32") / 255.0
    y = np.concatenate([y_tr.reshape(-1), y_te.reshape(-1)])
    if x.ndim == 3:
        x = x[..., None]
    names = {
        "cifar10": [
            "airplane", "automobile", "bird", "cat", "deer",
            "dog", "frog", "horse", "ship", "truck",
        ],
        "fashion_mnist": [
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ],
    }.get(name, [str(i) for i in range(10)])
    return _finish(x, y, names, name, flatten)


def _too_large(value: float) -> str:
    """How a value that float32 cannot hold is named in a message."""
    if np.isnan(value):
        return "NaN"
    return "an infinite value" if np.isinf(value) else f"{value:g}"


def _why(value: float) -> str:
    if np.isfinite(value):
        return f": too large for float32 (largest {FLOAT32_MAX:.4g})"
    return ""


def _read_csv(path: Path, target: str | None, drop) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV table: the ``target`` column, the numeric features, clear errors."""
    import pandas as pd

    where = str(path)
    with open(path, "rb") as f:
        head = f.read(65536)
    try:
        head.decode("utf-8")
        binary = b"\x00" in head
    except UnicodeDecodeError as exc:  # a character cut at the end of the sample is fine
        binary = exc.start < len(head) - 4
    if binary:
        raise ValueError(f"The file {where!r} is not a UTF-8 text CSV file; is it a binary "
                         "file?")
    try:
        frame = pd.read_csv(path)
    except UnicodeDecodeError as exc:
        raise ValueError(f"The file {where!r} is not a UTF-8 text CSV file (byte "
                         f"{exc.start} cannot be decoded); is it a binary file?") from exc
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"The file {where!r} is empty: no header line and no rows.") from exc
    except pd.errors.ParserError as exc:
        raise ValueError(f"The file {where!r} is not a well-formed CSV file: "
                         f"{str(exc).strip()}") from exc
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    if len(columns) == 1:
        for sep, word in ((";", "';'"), ("\t", "tab")):
            if sep in columns[0]:
                raise ValueError(
                    f"The file {where!r} looks {word}-separated (its header is "
                    f"{columns[0]!r}, one column): save it with commas as separators.")
    if target is None:
        raise ArgumentError("target", literal_text(f"the target column of {where!r}"), None,
                            template="{target:subject} must name the target column of "
                            + literal_text(f"{where!r}. ") + template_received(target=None)
                            + literal_text(f" (columns: {columns})"))
    drop = [] if drop is None else [drop] if isinstance(drop, str) else [str(c) for c in drop]
    for name, value in [("target", target)] + [("drop", c) for c in drop]:
        if value not in columns:
            raise ArgumentError(name, literal_text(f"a column of {where!r}"), value,
                                template=literal_text(f"Column {value!r} is not in {where!r}. ")
                                + template_received(**{name: value})
                                + literal_text(f" (columns: {columns})"))
    if target in drop:
        raise ArgumentError("drop", literal_text(f"columns other than the target {target!r}"),
                            drop, values={"target": target, "drop": drop},
                            template=literal_text(f"The target column {target!r} cannot also be "
                                              "dropped. ") + template_received(target=target,
                                                                               drop=drop))
    if frame.empty:
        raise ValueError(f"The file {where!r} has a header but no rows.")
    features = frame.drop(columns=[target, *drop])
    if features.shape[1] == 0:
        raise ValueError(f"The file {where!r} has no feature column besides the target "
                         f"{target!r} (columns: {columns}).")
    for column in features.columns:
        values = features[column]
        if values.dtype.kind not in "iufb":
            converted = pd.to_numeric(values, errors="coerce")
            bad = converted.isna() & values.notna()
            if bad.any():
                row = int(np.argmax(bad.to_numpy()))
                raise ArgumentError(None, template=literal_text(
                    f"Column {column!r} of {where!r} is not numeric: row {row + 1} (line "
                    f"{row + 2} of the file) holds {values.iloc[row]!r}. Encode it as "
                    "numbers, or leave the column out with ") + "{drop}.",
                    values={"drop": column})
            features[column] = converted
        missing = features[column].isna().to_numpy()
        if missing.any():
            row = int(np.argmax(missing))
            raise ArgumentError(None, template=literal_text(
                f"Column {column!r} of {where!r} has a missing value (NaN) at row {row + 1} "
                f"(line {row + 2} of the file), {int(missing.sum())} in all. Fill or remove "
                "them first, or leave the column out with ") + "{drop}.",
                values={"drop": column})
    labels = frame[target]
    missing = labels.isna().to_numpy()
    if missing.any():
        row = int(np.argmax(missing))
        raise ValueError(f"The target column {target!r} of {where!r} has a missing value at "
                         f"row {row + 1} (line {row + 2} of the file), {int(missing.sum())} "
                         "in all.")
    wide = features.to_numpy(dtype="float64")
    bad = ~(np.abs(wide) <= FLOAT32_MAX)
    if bad.any():
        row, col = (int(i[0]) for i in np.nonzero(bad))
        raise ValueError(f"Column {features.columns[col]!r} of {where!r} holds "
                         f"{_too_large(wide[row, col])} at row {row + 1} (line {row + 2} of "
                         f"the file){_why(wide[row, col])}.")
    x = wide.astype("float32")
    y = labels.to_numpy()
    if y.dtype.kind == "f" and not np.all(np.abs(y) <= FLOAT32_MAX):
        row = int(np.argmax(~(np.abs(y) <= FLOAT32_MAX)))
        raise ValueError(f"The target column {target!r} of {where!r} holds "
                         f"{_too_large(y[row])} at row {row + 1} (line {row + 2} of the "
                         f"file){_why(y[row])}.")
    if y.dtype.kind == "O":
        y = y.astype(str)
    return x, y


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``x`` and ``y`` of a ``.npz`` file; no pickled objects are ever loaded."""
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ValueError(f"The file {str(path)!r} is not a readable .npz archive (np.savez "
                         "writes a zip archive of arrays).")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x", "y") if k not in f.files]
            if missing:
                raise ValueError(
                    f"The .npz file {str(path)!r} must hold arrays 'x' and 'y'. "
                    f"Received arrays: {sorted(f.files)}"
                )
            x, y = f["x"], f["y"]
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"The file {str(path)!r} is not a readable .npz archive "
                         f"({type(exc).__name__}: {exc}).") from exc
    except ValueError as exc:
        if "pickle" not in str(exc):
            raise
        raise ValueError(f"The .npz file {str(path)!r} holds Python objects (pickled), which "
                         "are not loaded for safety; save numeric arrays 'x' and 'y' "
                         "(np.savez(path, x=x, y=y) with number arrays).") from exc
    return x, y


def _check_npz_arrays(x: np.ndarray, y: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Refuse arrays of a ``.npz`` file that cannot be training data; the message names
    the file. Returns ``x`` with one feature axis at least (``(n,)`` becomes ``(n, 1)``)."""
    for key, array in (("x", x), ("y", y)):
        if array.ndim == 0:
            raise ValueError(
                f"The .npz file {where!r} holds a single value (a 0-d array) as {key!r}: "
                f"{key!r} must be an array with one entry per example, shape (n, ...).")
        if array.dtype.kind == "c":
            raise ValueError(
                f"The .npz file {where!r} holds complex numbers in {key!r} ({array.dtype}): "
                "Keras trains on real numbers, and casting would drop the imaginary part. "
                "Save real numbers instead (e.g. the real and imaginary parts as separate "
                "features).")
        if key == "x" and array.dtype.kind not in "iufb":
            raise ValueError(
                f"The .npz file {where!r} holds {array.dtype} values in 'x': it must be a "
                "numeric array (encode text or categories as numbers first).")
    if x.ndim == 1:
        x = x.reshape(-1, 1)  # one feature per example
    if x.dtype.kind == "f":
        bad = ~(np.abs(x) <= FLOAT32_MAX)
        if bad.any():
            index = tuple(int(i[0]) for i in np.nonzero(bad))
            raise ValueError(f"The .npz file {where!r} holds {_too_large(x[index])} in 'x' "
                             f"at index {index} (example {index[0] + 1}){_why(x[index])}; "
                             f"{int(bad.sum())} such value(s) in all.")
    if y.ndim > 1 and int(np.prod(y.shape[1:])) == 1:
        y = y.reshape(len(y))
    if y.ndim > 1 and y.dtype.kind not in "fiub":
        raise ValueError(f"The .npz file {where!r} holds {y.dtype} values in 'y' with shape "
                         f"{y.shape}: class labels must be one per example, shape (n,).")
    if y.dtype.kind == "f" and not np.all(np.abs(y) <= FLOAT32_MAX):
        raise ValueError(f"The .npz file {where!r} holds NaN, infinite values or values too "
                         "large for float32 in 'y'.")
    return x, y


def _canonical_label(value) -> str:
    """The class name of one label: numbers by value (``'1'``, ``'1.0'`` and ``1.0`` are
    all ``'1'``; ``'0.5'`` is ``'0.5'``), text as written without surrounding spaces."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def _label_order(name: str) -> tuple:
    try:
        return (0, float(name), "")
    except ValueError:
        return (1, 0.0, name)


def _encode_labels(y: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """``(codes, class_names)``: classes in order (numbers by value, then text), and the
    same class for every spelling of one number, whether or not other labels are text."""
    if y.dtype.kind in "iub":
        values, codes = np.unique(y, return_inverse=True)
        return codes.reshape(-1), [str(v) for v in values]
    names = np.array([_canonical_label(v) for v in y.reshape(-1)], dtype=object)
    classes = sorted(set(names.tolist()), key=_label_order)
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index[n] for n in names], dtype="int64"), classes


def _one_hot_classes(y: np.ndarray) -> np.ndarray | None:
    """Class indices of a one-hot ``y`` of shape ``(n, C)``, else ``None``."""
    if y.ndim != 2 or y.shape[1] < 2 or y.dtype.kind not in "fiub":
        return None
    if not (np.isin(y, (0, 1)).all() and np.all(y.sum(axis=1) == 1)):
        return None
    return np.argmax(y, axis=1)


def _from_file(path: Path, target: str | None, flatten: bool, drop=None) -> Dataset:
    where = str(path)
    if path.suffix == ".npz":
        x, y = _read_npz(path)
        x, y = _check_npz_arrays(x, y, where)
    else:
        x, y = _read_csv(path, target, drop)
    if len(x) != len(y):
        raise ValueError(f"x and y of {where!r} have different lengths. Received: "
                         f"len(x)={len(x)}, len(y)={len(y)}")
    if len(x) == 0:
        raise ValueError(f"The file {where!r} holds no examples.")
    y = np.asarray(y)
    one_hot = _one_hot_classes(y)
    if one_hot is not None:
        return _finish(x, one_hot, [str(i) for i in range(y.shape[1])], path.name, flatten)
    if y.ndim > 1 and y.dtype.kind in "iub":
        raise ValueError(f"The file {where!r} holds integer 'y' of shape {y.shape}: class "
                         "labels must be one per example, shape (n,), or one-hot rows.")
    is_classes = y.dtype.kind in "iub" or y.dtype.kind in "OUS" or (
        y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0) and len(np.unique(y)) <= 100
    )
    if not is_classes or y.ndim > 1:
        return _finish(x, y.reshape(len(y), -1), None, path.name, flatten)
    codes, names = _encode_labels(y)
    return _finish(x, codes, names, path.name, flatten)


def load_dataset(
    name: str | os.PathLike = "digits",
    *,
    flatten: bool = False,
    seed: int = 0,
    target: str | None = None,
    drop: str | list[str] | None = None,
) -> Dataset:
    """Load a data set by name or from a ``.npz`` / ``.csv`` file.

    Use ``"digits"`` (the embedded default, bundled with scikit-learn) for anything that must
    run offline and fast: 1797 greyscale 8×8 images of 10 digits, scaled to [0, 1].

    Args:
        name: one of ``"digits"``, ``"moons"``, ``"spirals"``, ``"blobs"``, ``"regression"``
            (all offline), ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"`` (through
            ``keras.datasets``, downloaded on first use), or a path to a ``.npz`` file holding
            arrays ``x`` and ``y`` or to a ``.csv`` file. Defaults to ``"digits"``.
        flatten: reshape every example to a vector (``(8, 8, 1)`` → ``64``).
            Defaults to ``False``.
        seed: seed of the generated sets (moons, spirals, blobs, regression); the same seed
            gives the same data. Defaults to ``0``.
        target: for a ``.csv`` file, the name of the target column; every other column is
            an input feature. Defaults to ``None``.
        drop: for a ``.csv`` file, columns that are not features (an id, a date) and are
            left out. Defaults to ``None``.

    Returns:
        A :class:`Dataset`. Class labels are integers ``0..C-1``; a CSV/NPZ target with
        string or integer values is encoded in sorted order and ``class_names`` keeps the
        original values.

    Raises:
        ValueError: unknown name, missing file or column; for a CSV file, also a file
            that is empty, binary or malformed, a non-numeric feature column, or a missing
            (NaN) or infinite value; the message names the file, the column and the row.
        DatasetUnavailableError: a ``keras.datasets`` set could not be downloaded (offline);
            the message suggests ``"digits"``. The download times out rather than hangs.

    Example:

    >>> from keras_recipes.data import load_dataset
    >>> load_dataset("digits", flatten=True).input_shape
    (64,)
    >>> load_dataset("moons", seed=1).num_classes
    2
    """
    check_number("seed", seed, integer=True)
    key = str(name)
    if key in OFFLINE_DATASETS:
        return _digits(flatten) if key == "digits" else _generated(key, seed, flatten)
    if key in KERAS_DATASETS:
        return _keras_dataset(key, flatten)
    path = Path(key)
    if path.suffix in (".npz", ".csv"):
        if not path.is_file():
            raise ValueError(f"No such data file: {key!r}.")
        return _from_file(path, target, flatten, drop)
    raise ArgumentError("name", literal_text(f"one of {list(DATASET_NAMES)} or a .npz/.csv path"),
                        key, template=literal_text(
                            f"Unknown dataset {key!r}. Use one of {list(DATASET_NAMES)} or a "
                            "path to a .npz or .csv file. ") + template_received(name=key))


def as_classification_dataset(
    dataset: Dataset | str | os.PathLike, *, target: str | None = None, seed: int = 0,
    workflow: str = "This workflow", drop: str | list[str] | None = None,
) -> Dataset:
    """Return ``dataset`` as a classification :class:`Dataset`, loading it if it is a name.

    Workflows call it first, so bad input fails before any work starts: an offline
    ``keras.datasets`` name, an unknown name, a CSV without its target column or a
    regression set all raise ``ValueError``.

    Example:

    >>> from keras_recipes.data.dataset import as_classification_dataset
    >>> as_classification_dataset("moons").num_classes
    2
    """
    if isinstance(dataset, Dataset):
        ds = dataset
    elif isinstance(dataset, str | os.PathLike):
        try:
            ds = load_dataset(dataset, flatten=False, seed=seed, target=target, drop=drop)
        except DatasetUnavailableError as exc:
            raise ValueError(str(exc)) from exc
    else:
        raise ArgumentError("dataset", "a data set name, a .npz/.csv path or a Dataset",
                            type(dataset).__name__,
                            template="{dataset:subject} must be a data set name, a .npz/.csv "
                            "path or a Dataset. Received: {dataset=}"
                            + literal_text(type(dataset).__name__))
    if ds.task != "classification":
        raise ValueError(f"{workflow} needs a classification data set; {ds.name!r} is a "
                         f"regression set. Received: dataset={ds.name!r}")
    present = len(np.unique(ds.y))
    if present < 2:
        raise ValueError(f"{workflow} needs at least 2 classes; {ds.name!r} holds "
                         f"{present} class(es) ({ds.class_names}).")
    return ds
