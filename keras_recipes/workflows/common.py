"""What the workflows and the command line share: model presets, figures, files, records.

- **Model presets**: :data:`MODEL_NAMES`, the network sizes of each preset
  (:data:`PRESET_SIZES`), :func:`check_model` and :func:`build_network`, which builds a
  preset or a user's callable the same way everywhere.
- **Figures**: :func:`save_figure` writes a Matplotlib figure as a PNG atomically and frees it.
- **Atomic files**: :func:`atomic_write`, :func:`atomic_write_text`,
  :func:`atomic_write_json` write to a temporary file in the destination folder and move it
  into place with :func:`os.replace` (atomic on POSIX and Windows on one file system), so an
  interrupted run leaves either the old file or the new one, never half of one.
- **Records**: :func:`finite` and :func:`findings_as_dicts` turn numbers and the doctor's
  findings into JSON-safe values for ``summary.json``.

This module imports neither Keras nor Matplotlib at import time: the command line uses it
before it knows whether it will train.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "MODEL_NAMES",
    "PRESET_SIZES",
    "atomic_write",
    "atomic_write_json",
    "atomic_write_text",
    "build_network",
    "check_model",
    "findings_as_dicts",
    "finite",
    "model_description",
    "model_label",
    "save_figure",
]

# ---------------------------------------------------------------- model presets

#: Names of the baseline networks (:func:`keras_recipes.models.build_model`).
MODEL_NAMES = ("mlp", "cnn")
#: Network sizes of each preset, small to big (seed 000, stage 3: "petit réseau → gros
#: réseau"). The steamroller's stages 1–2 use the first, its stage 3 grows from it.
PRESET_SIZES: dict[str, list[dict[str, tuple[int, ...]]]] = {
    "mlp": [{"hidden": (128,)}, {"hidden": (256, 256)}, {"hidden": (512, 512)}],
    "cnn": [{"filters": (32, 64)}, {"filters": (32, 64, 128)}, {"filters": (64, 128, 256)}],
}
_MODEL_HELP = ("'mlp', 'cnn' or a callable model(input_shape, num_classes) returning an "
               "uncompiled keras.Model")


def check_model(model: Any) -> None:
    """Raise a ``ValueError`` unless ``model`` is a preset name or a callable.

    Example:

    >>> from keras_recipes.workflows.common import check_model
    >>> check_model("mlp")
    >>> check_model("resnet")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: Unknown model 'resnet'. Use one of ['mlp', 'cnn'] or a callable. ...
    """
    if isinstance(model, str):
        if model not in MODEL_NAMES:
            raise ValueError(f"Unknown model {model!r}. Use one of {list(MODEL_NAMES)} or a "
                             f"callable. Received: model={model!r}")
    elif not callable(model):
        raise ValueError(f"Argument `model` must be {_MODEL_HELP}. Received: model={model!r}")


def model_label(model: Any) -> str:
    """The name of a preset, or of a callable (its ``__name__``)."""
    return model if isinstance(model, str) else getattr(model, "__name__", type(model).__name__)


def model_description(model: Any, size: int = 0, **options: Any) -> str:
    """One line naming the network: the preset and its size, or the callable's call.

    >>> from keras_recipes.workflows.common import model_description
    >>> model_description("mlp", 1, dropout=0.1)
    'mlp (hidden=(256, 256), dropout=0.1)'
    """
    shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                      for k, v in options.items())
    if isinstance(model, str):
        preset = ", ".join(f"{k}={v}" for k, v in PRESET_SIZES[model][size].items())
        return f"{model} ({preset}{', ' + shown if shown else ''})"
    return f"{model_label(model)}({shown})"


def build_network(model: Any, input_shape: Sequence[int], num_classes: int, *,
                  normalization: Any = None, size: int = 0, **options: Any):
    """Build an uncompiled classifier from a preset name or a user's callable.

    A preset (``"mlp"``, ``"cnn"``) is built at rung ``size`` of :data:`PRESET_SIZES` with
    ``options`` (``dropout=``...). A callable is called as
    ``model(input_shape, num_classes, **kw)`` where ``kw`` holds those of ``options`` and
    ``normalization`` that its signature names (all of them if it takes ``**kwargs``); it
    must return a ``keras.Model`` with ``num_classes`` outputs. ``normalization`` (a layer,
    e.g. the training split's standardisation) is applied to the raw inputs first: inside a
    preset, by a callable that names it, or, for any other callable, in front of its network
    as a nested model.

    Raises:
        ValueError: an unknown name, a callable that returns something else than a
            ``keras.Model`` or a network with the wrong number of outputs.
    """
    import keras

    check_model(model)
    if isinstance(model, str):
        from keras_recipes.models import build_model

        return build_model(model, input_shape, num_classes, normalization=normalization,
                           **PRESET_SIZES[model][size], **options)
    try:
        params = inspect.signature(model).parameters
    except (TypeError, ValueError):
        params = {}
    any_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    offered = {**options, **({} if normalization is None else {"normalization": normalization})}
    kwargs = {k: v for k, v in offered.items() if any_kw or k in params}
    net = model(tuple(input_shape), int(num_classes), **kwargs)
    if not isinstance(net, keras.Model):
        raise ValueError(f"Argument `model` must return a keras.Model when called as "
                         f"model(input_shape, num_classes). Received: a callable that returned "
                         f"{type(net).__name__}")
    units = net.output_shape[-1] if isinstance(net.output_shape, tuple) else None
    if units != num_classes:
        raise ValueError(f"Argument `model` must build a network with {num_classes} outputs "
                         f"(one probability per class). Received: "
                         f"output_shape={net.output_shape}")
    if normalization is not None and "normalization" not in kwargs:
        from keras_recipes.workflows.standardize import wrap_with_layer

        net = wrap_with_layer(net, normalization, input_shape)
    return net


# ---------------------------------------------------------------- atomic files


@contextlib.contextmanager
def _temporary(path: Path, suffix: str) -> Iterator[Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{suffix}",
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; use the usual mode
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        # The cleanup of a failed write must not replace the error that made it fail
        # (a folder turned read-only refuses the removal too).
        with contextlib.suppress(OSError):
            if os.path.lexists(tmp_path):
                tmp_path.unlink()


def _naming(exc: OSError, path: Path, tmp_prefix: str) -> OSError:
    """``exc`` naming ``path`` when it named no file, or only the temporary one."""
    named = exc.filename
    if named is not None and not os.path.basename(os.fspath(named)).startswith(tmp_prefix):
        return exc
    if isinstance(exc.errno, int):
        return OSError(exc.errno, exc.strerror or str(exc), os.fspath(path))
    return OSError(None, str(exc) or type(exc).__name__, os.fspath(path))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` atomically.

    The temporary file keeps ``path``'s suffix, so writers that check it (``.keras``,
    ``.png``) accept it. An ``OSError`` (a full disk, a folder turned read-only) names
    ``path`` when it named no file or only the temporary one, so the message says which
    write failed: ``[Errno 28] No space left on device: 'run/summary.json'``.

    Example:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from keras_recipes.workflows.common import atomic_write
    >>> path = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(path, lambda tmp: tmp.write_text("done")).read_text()
    'done'
    >>> def full(tmp):
    ...     raise OSError(28, "No space left on device")
    >>> atomic_write(path.with_name("b.txt"), full)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    OSError: [Errno 28] No space left on device: '.../b.txt'
    """
    path = Path(path)
    try:
        with _temporary(path, path.suffix) as tmp:
            write(tmp)
    except OSError as exc:
        named = _naming(exc, path, f".{path.stem}.")
        if named is exc:
            raise
        raise named from exc
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    return atomic_write(path, write)


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False,
                                              default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


# ---------------------------------------------------------------- figures


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 100, tight: bool = False,
                close: bool = True) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically, then close it (frees its memory).

    ``tight=True`` crops the canvas to what is drawn (``bbox_inches="tight"``); it draws the
    figure twice, so the steamroller's figures, which use a layout engine, go without it.
    """
    extra = {"bbox_inches": "tight"} if tight else {}
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png", **extra))
    finally:
        if close:
            import matplotlib.pyplot as plt

            plt.close(fig)


# ---------------------------------------------------------------- records


def finite(value: Any) -> float | None:
    """``float(value)``, or ``None`` for ``None``, NaN and infinities (JSON has neither)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def findings_as_dicts(findings: Sequence[Any]) -> list[dict[str, Any]]:
    """The doctor's findings as JSON-safe dictionaries (evidence values as text if needed)."""
    return [{"severity": f.severity, "code": f.code, "message": f.message,
             "advice": f.advice,
             "evidence": {k: (v if isinstance(v, int | float | str | bool | type(None))
                              else str(v)) for k, v in f.evidence.items()}}
            for f in findings]
