"""Every private Keras attribute the library uses, checked against the installed Keras.

The library reaches private Keras attributes (leading underscore, ``keras.src``) only
through the functions of :mod:`keras_recipes._keras_private`. Each test here covers one of them: the
private attribute still exists with the type the function expects, and the function does
what the library needs from it (checked against a NumPy or hand computation). A Keras
upgrade that renames or removes one fails here, with a message naming the function.

The last tests scan the library's sources: no other module may touch a private attribute
of an object that is not the library's own, nor import ``keras.src``.
"""

from __future__ import annotations

import ast
import inspect
import pathlib

import keras
import numpy as np
import pytest

from keras_recipes import _keras_private

pytestmark = pytest.mark.backend  # what Keras keeps differs by backend (JAX step state)

BACKEND = keras.backend.backend()
LIBRARY = pathlib.Path(__file__).resolve().parents[1] / "keras_recipes"


def _changed(function: str, private: str) -> str:
    return (f"keras_recipes._keras_private.{function} relies on Keras's private `{private}`, which "
            f"the installed Keras {keras.__version__} no longer provides as expected: "
            f"update {function}.")


def _numpy(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


def _t(*arrays):
    """Gradients as backend tensors: torch's fused optimizer steps refuse NumPy arrays."""
    return [keras.ops.convert_to_tensor(a) for a in arrays]


def _variable(values, name="w") -> keras.Variable:
    return keras.Variable(np.asarray(values, "float32"), name=name)


# --------------------------------------------------------------------------- the model


def test_compiled_attributes_jax_step_state():
    """``compiled_attributes`` reads ``model._jax_state`` / ``_jax_state_synced``."""
    from keras.src.backend.jax import trainer as jax_trainer

    source = inspect.getsource(jax_trainer.JAXTrainer)
    for name in ("_jax_state", "_jax_state_synced"):
        assert f"self.{name} = " in source, _changed("compiled_attributes", f"model.{name}")

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(_keras_private.compiled_attributes(_keras_private.callback_model(self)))

    x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Record()])
    assert len(seen) == 2
    mid = seen[0]
    assert mid["optimizer"] is model.optimizer and callable(mid["train_function"])
    if BACKEND == "jax":
        assert isinstance(mid["_jax_state"], dict), _changed("compiled_attributes",
                                                             "model._jax_state")
        assert "trainable_variables" in mid["_jax_state"]
        assert isinstance(mid["_jax_state_synced"], bool), _changed(
            "compiled_attributes", "model._jax_state_synced")
        assert vars(model)["_jax_state"] is None  # cleared when fit ends
    else:
        absent = _keras_private.ABSENT
        assert mid["_jax_state"] is absent and mid["_jax_state_synced"] is absent

    # Putting the mid-fit state back restores each object; one absent then is removed.
    model.extra_marker = 1
    captured = dict(mid, extra_marker=_keras_private.ABSENT)
    _keras_private.restore_compiled_attributes(model, captured)
    for name, value in mid.items():
        restored = vars(model).get(name, _keras_private.ABSENT)
        if isinstance(value, dict):  # Keras's __setattr__ re-wraps dicts and lists
            assert list(restored) == list(value), name
            leaves, expected = keras.tree.flatten(restored), keras.tree.flatten(value)
            assert len(leaves) == len(expected) > 0, name
            assert all(a is b for a, b in zip(leaves, expected, strict=True)), name
        else:
            assert restored is value, name
    assert "extra_marker" not in vars(model)


# ----------------------------------------------------------------------- the optimizer


def test_is_backend_subclass():
    from keras_recipes._keras_private import is_backend_subclass

    optimizer = keras.optimizers.SGD(momentum=0.9)
    public = [c for c in type(optimizer).__mro__ if not is_backend_subclass(c)][0]
    assert public is keras.optimizers.SGD
    assert not is_backend_subclass(keras.optimizers.SGD)


def test_learning_rate_object():
    """``learning_rate_object`` reads ``optimizer._learning_rate`` (variable, schedule...)."""
    sgd = keras.optimizers.SGD(0.25)
    found = _keras_private.learning_rate_object(sgd)
    assert isinstance(found, keras.Variable), _changed("learning_rate_object",
                                                       "optimizer._learning_rate")
    assert float(_numpy(found)) == 0.25
    assert any(v is found for v in sgd.variables)  # the very variable the optimizer tracks
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    assert _keras_private.learning_rate_object(keras.optimizers.SGD(schedule)) is schedule
    function = lambda: 0.01  # noqa: E731
    assert _keras_private.learning_rate_object(keras.optimizers.SGD(function)) is function
    assert _keras_private.learning_rate_object(object()) is None


def test_set_learning_rate_object_is_used_by_the_next_update():
    """``set_learning_rate_object`` writes ``optimizer._learning_rate``: the step reads it."""
    w = _variable([1.0, -2.0])
    g = np.array([0.5, 4.0], "float32")
    sgd = keras.optimizers.SGD(0.1)
    sgd.build([w])
    schedule = keras.optimizers.schedules.ExponentialDecay(0.2, decay_steps=1, decay_rate=0.5)
    _keras_private.set_learning_rate_object(sgd, schedule)
    assert _keras_private.learning_rate_object(sgd) is schedule
    sgd.apply(_t(g), [w])  # step 0: lr = 0.2
    sgd.apply(_t(g), [w])  # step 1: lr = 0.1
    expected = np.array([1.0, -2.0]) - 0.2 * g - 0.1 * g
    np.testing.assert_allclose(_numpy(w), expected, rtol=1e-6)

    fresh = keras.Variable(0.3, trainable=False, name="learning_rate")
    _keras_private.set_learning_rate_object(sgd, fresh)
    assert float(_numpy(sgd.learning_rate)) == pytest.approx(0.3)
    sgd.apply(_t(g), [w])
    np.testing.assert_allclose(_numpy(w), expected - 0.3 * g, rtol=1e-6)


def test_track_optimizer_variable_appends_to_variables():
    """``track_optimizer_variable`` calls ``optimizer._track_variable``."""
    sgd = keras.optimizers.SGD(0.1)
    assert callable(getattr(sgd, "_track_variable", None)), _changed(
        "track_optimizer_variable", "optimizer._track_variable")
    before = [id(v) for v in sgd.variables]
    extra = keras.Variable(0.5, trainable=False, name="extra")
    _keras_private.track_optimizer_variable(sgd, extra)
    after = sgd.variables
    assert [id(v) for v in after] == before + [id(extra)], _changed(
        "track_optimizer_variable", "optimizer._track_variable")


def test_optimizer_variable_list_is_the_live_list():
    """``optimizer_variable_list`` returns ``optimizer._variables``, behind ``variables``."""
    w = _variable([1.0, 2.0])
    sgd = keras.optimizers.SGD(0.1, momentum=0.9)
    sgd.build([w])
    live = _keras_private.optimizer_variable_list(sgd)
    assert live is not None and live is _keras_private.optimizer_variable_list(sgd), _changed(
        "optimizer_variable_list", "optimizer._variables")
    assert [id(v) for v in live] == [id(v) for v in sgd.variables]
    order = list(live)
    while len(live):  # reversed in place, as TrainingState reorders it
        live.pop()
    live.extend(order[::-1])
    assert [id(v) for v in sgd.variables] == [id(v) for v in order[::-1]], _changed(
        "optimizer_variable_list", "optimizer._variables")
    assert _keras_private.optimizer_variable_list(object()) is None


def test_iteration_counter_counts_apply_calls():
    """``iteration_counter`` reads ``optimizer._iterations``, the raw step counter."""
    w = _variable([1.0])
    plain = keras.optimizers.SGD(0.1)
    assert _keras_private.iteration_counter(plain) is plain.iterations
    accumulating = keras.optimizers.SGD(0.1, gradient_accumulation_steps=2)
    accumulating.build([w])
    for _ in range(3):
        accumulating.apply(_t(np.ones(1, "float32")), [w])
    counter = _keras_private.iteration_counter(accumulating)
    assert isinstance(counter, keras.Variable), _changed("iteration_counter",
                                                         "optimizer._iterations")
    assert int(_numpy(counter)) == 3  # three apply calls
    assert int(_numpy(accumulating.iterations)) == 1  # floor(3 / 2) updates


def test_variable_index_points_at_the_slots():
    """``variable_index`` calls ``optimizer._get_variable_index``."""
    a, b, c = _variable([1.0], "a"), _variable([2.0, 3.0], "b"), _variable([[4.0]], "c")
    sgd = keras.optimizers.SGD(0.1, momentum=0.9)
    sgd.build([a, b, c])
    assert [_keras_private.variable_index(sgd, v) for v in (a, b, c)] == [0, 1, 2], _changed(
        "variable_index", "optimizer._get_variable_index")
    # The index selects the variable's own slot: one momentum step on `b` only.
    sgd.apply(_t(np.array([1.0, -1.0], "float32")), [b])
    slot = sgd.momentums[_keras_private.variable_index(sgd, b)]
    np.testing.assert_allclose(_numpy(slot), [-0.1, 0.1], rtol=1e-6)  # m = 0.9·0 − 0.1·g


def test_built_variables_are_what_apply_updates_by_default():
    """``built_variables`` reads ``optimizer._trainable_variables``."""
    a, b = _variable([1.0, 2.0], "a"), _variable([3.0], "b")
    sgd = keras.optimizers.SGD(0.5)
    sgd.build([a, b])
    built = _keras_private.built_variables(sgd)
    assert [id(v) for v in built] == [id(a), id(b)], _changed(
        "built_variables", "optimizer._trainable_variables")
    sgd.apply(_t(np.array([1.0, 1.0], "float32"), np.array([2.0], "float32")))
    np.testing.assert_allclose(_numpy(a), [0.5, 1.5])
    np.testing.assert_allclose(_numpy(b), [2.0])


def test_gradient_accumulators_hold_the_running_sum():
    """``gradient_accumulators`` reads ``optimizer._accumulated_gradients``."""
    w = _variable([1.0, 1.0])
    sgd = keras.optimizers.SGD(0.1, gradient_accumulation_steps=2)
    sgd.build([w])
    accumulators = _keras_private.gradient_accumulators(sgd)
    assert len(accumulators) == 1 and isinstance(accumulators[0], keras.Variable), _changed(
        "gradient_accumulators", "optimizer._accumulated_gradients")
    g1, g2 = np.array([1.0, 2.0], "float32"), np.array([3.0, -2.0], "float32")
    sgd.apply(_t(g1), [w])
    np.testing.assert_allclose(_numpy(accumulators[0]), g1)
    np.testing.assert_allclose(_numpy(w), [1.0, 1.0])  # no update yet
    sgd.apply(_t(g2), [w])
    np.testing.assert_allclose(_numpy(w), 1.0 - 0.1 * (g1 + g2) / 2, rtol=1e-6)
    np.testing.assert_allclose(_numpy(accumulators[0]), [0.0, 0.0])


def test_ema_averages_follow_the_moving_average():
    """``ema_averages`` reads ``optimizer._model_variables_moving_average``."""
    w = _variable([1.0, -1.0])
    sgd = keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.9)
    sgd.build([w])
    averages = _keras_private.ema_averages(sgd)
    assert len(averages) == 1 and tuple(averages[0].shape) == (2,), _changed(
        "ema_averages", "optimizer._model_variables_moving_average")
    g = np.array([1.0, 2.0], "float32")
    w1 = np.array([1.0, -1.0]) - 0.1 * g
    w2 = w1 - 0.1 * g
    sgd.apply(_t(g), [w])  # the first average is the weights themselves
    np.testing.assert_allclose(_numpy(averages[0]), w1, rtol=1e-6)
    sgd.apply(_t(g), [w])
    np.testing.assert_allclose(_numpy(averages[0]), 0.9 * w1 + 0.1 * w2, rtol=1e-6)


def test_clip_gradients_by_norm_value_and_none():
    """``clip_gradients`` calls ``optimizer._clip_gradients``."""
    g = _t(np.array([3.0, 4.0], "float32"))
    by_norm = _keras_private.clip_gradients(keras.optimizers.SGD(clipnorm=1.0), g)
    np.testing.assert_allclose(_numpy(by_norm[0]), [0.6, 0.8], rtol=1e-6)  # 5 → 1
    by_value = _keras_private.clip_gradients(keras.optimizers.SGD(clipvalue=3.5), g)
    np.testing.assert_allclose(_numpy(by_value[0]), [3.0, 3.5])
    two = _t(np.array([3.0], "float32"), np.array([4.0], "float32"))
    by_global = _keras_private.clip_gradients(keras.optimizers.SGD(global_clipnorm=2.5), two)
    np.testing.assert_allclose([float(_numpy(x)[0]) for x in by_global], [1.5, 2.0], rtol=1e-6)
    unclipped = _keras_private.clip_gradients(keras.optimizers.SGD(), g)
    np.testing.assert_allclose(_numpy(unclipped[0]), [3.0, 4.0])


def test_apply_weight_decay_is_decoupled_and_respects_exclusions():
    """``apply_weight_decay`` calls ``optimizer._apply_weight_decay``."""
    kept, decayed = _variable([1.0, 2.0], "bias"), _variable([4.0, -2.0], "kernel")
    sgd = keras.optimizers.SGD(0.5, weight_decay=0.1)
    sgd.exclude_from_weight_decay(var_list=[kept])
    sgd.build([kept, decayed])
    _keras_private.apply_weight_decay(sgd, [kept, decayed])
    np.testing.assert_allclose(_numpy(decayed), np.array([4.0, -2.0]) * (1 - 0.1 * 0.5),
                               rtol=1e-6)  # v -= v · wd · lr
    np.testing.assert_allclose(_numpy(kept), [1.0, 2.0])
    plain = _variable([4.0])
    _keras_private.apply_weight_decay(keras.optimizers.SGD(0.5), [plain])  # weight_decay=None
    np.testing.assert_allclose(_numpy(plain), [4.0])


# ------------------------------------------------------------------ callbacks and metrics


def test_callback_model_without_state_sync():
    """``callback_model`` reads ``callback._model``, with no JAX state sync."""
    callback = keras.callbacks.Callback()
    assert _keras_private.callback_model(callback) is None
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    syncs = []
    model.jax_state_sync = lambda: syncs.append(1)  # counts the public property's syncs
    callback.set_model(model)
    assert _keras_private.callback_model(callback) is model, _changed("callback_model",
                                                              "callback._model")
    assert syncs == []
    assert callback.model is model
    assert len(syncs) == (1 if BACKEND == "jax" else 0)  # what callback_model avoids


def test_metric_direction():
    """``metric_direction`` reads ``metric._direction`` (``"up"``/``"down"``)."""
    cases = {
        "up": (keras.metrics.BinaryAccuracy(), keras.metrics.AUC(),
               keras.metrics.SparseCategoricalAccuracy(), keras.metrics.Precision()),
        "down": (keras.metrics.MeanSquaredError(), keras.metrics.MeanAbsoluteError(),
                 keras.metrics.RootMeanSquaredError()),
    }
    for expected, metrics in cases.items():
        for metric in metrics:
            assert _keras_private.metric_direction(metric) == expected, _changed(
                "metric_direction", f"metric._direction ({type(metric).__name__})")
    assert _keras_private.metric_direction(keras.metrics.Mean()) is None
    assert _keras_private.metric_direction(object()) is None


# ---------------------------------------------------------- the TensorFlow trainer patch


@pytest.mark.tf_only
def test_tensorflow_trainer_internals_of_the_multi_worker_fix():
    """``fix_multi_worker_logs_reduction`` wraps private parts of the TensorFlow trainer."""
    import tensorflow as tf

    function = "fix_multi_worker_logs_reduction"
    try:
        from keras.src.backend.tensorflow import trainer
    except ImportError as exc:  # pragma: no cover - only on a Keras that moved it
        pytest.fail(_changed(function, "keras.src.backend.tensorflow.trainer") + f" ({exc})")

    reduce = getattr(trainer, "reduce_per_replica", None)
    assert callable(reduce), _changed(function, "trainer.reduce_per_replica")
    assert list(inspect.signature(reduce).parameters) == ["values", "strategy", "reduction"], (
        _changed(function, "trainer.reduce_per_replica(values, strategy, reduction)"))

    multi_worker = getattr(trainer, "_collective_all_reduce_multi_worker", None)
    assert callable(multi_worker), _changed(function, "trainer._collective_all_reduce_multi_worker")
    assert multi_worker(tf.distribute.get_strategy()) is False
    assert not multi_worker(tf.distribute.MirroredStrategy(["/cpu:0"]))

    build = getattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build", None)
    assert callable(build), _changed(function, "TensorFlowTrainer._maybe_symbolic_build")
    parameters = inspect.signature(build).parameters
    assert list(parameters) == ["self", "iterator", "data_batch"], _changed(
        function, "TensorFlowTrainer._maybe_symbolic_build(self, iterator, data_batch)")

    plain = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert vars(plain).get("_distribute_strategy", "missing") is None, _changed(
        function, "model._distribute_strategy")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        scoped = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert vars(scoped).get("_distribute_strategy") is strategy, _changed(
        function, "model._distribute_strategy")


# ------------------------------------------------------------------- the source scan

# Private attribute names the scan accepts outside ``_keras_private.py``: (file, attribute) -> why.
ALLOWED = {
    ("diagnostics/logger.py", "_copy_of"):
        "DiagnosticsLogger's own attribute, set on the deep copy it makes of itself",
    ("callbacks/_monitor.py", "_reset_stop_state"):
        "StoppingCallback's own reset, reached through super() by its subclasses",
    ("callbacks/nan_guard.py", "_reset_stop_state"):
        "StoppingCallback's own reset (callbacks/_monitor.py), through super()",
    ("callbacks/time_budget.py", "_reset_stop_state"):
        "StoppingCallback's own reset (callbacks/_monitor.py), through super()",
    ("workflows/steamroller/summary.py", "_build"):
        "RunSummary reads stage records with StageRecord's own builder, in the same module",
}
# Functions that read or write an attribute given by name.
_BY_NAME = {"getattr", "setattr", "hasattr", "delattr"}


def _library_files():
    return sorted(p for p in LIBRARY.rglob("*.py") if p.name != "_keras_private.py"
                  or p.parent != LIBRARY)


def _own_modules(tree: ast.Module) -> set[str]:
    """Names bound to the library's own modules (``from keras_recipes import _distribute``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras_recipes"):
            names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names
                         if a.name.startswith("keras_recipes"))
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _findings(path: pathlib.Path, library: pathlib.Path = LIBRARY) -> list[str]:
    relative = path.relative_to(library).as_posix()
    tree = ast.parse(path.read_text(), filename=str(path))
    own = _own_modules(tree)
    found = []

    def report(node, what):
        found.append(f"keras_recipes/{relative}:{node.lineno}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            if isinstance(base, ast.Name) and (base.id in ("self", "cls") or base.id in own):
                continue
            if (relative, node.attr) not in ALLOWED:
                report(node, ast.unparse(node))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in _BY_NAME and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and _private(node.args[1].value)
              and (relative, node.args[1].value) not in ALLOWED):
            report(node, ast.unparse(node))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                       else [a.name for a in node.names])
            for module in modules:
                if module == "keras.src" or module.startswith("keras.src."):
                    report(node, f"import of {module}")
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and node.args[0].value.startswith("keras.src")):
            report(node, ast.unparse(node))  # importlib.import_module("keras.src...")
    return found


def test_scan_finds_what_it_looks_for(tmp_path):
    """The scan itself: it reports each kind of private access it must catch."""
    package = tmp_path / "keras_recipes"
    package.mkdir()
    sample = package / "sample.py"
    sample.write_text(
        "import importlib\n"
        "from keras.src.backend import tensorflow\n"
        "from keras_recipes import _distribute\n"
        "def f(model, self):\n"
        "    model.optimizer._learning_rate = 1\n"
        "    getattr(model, '_jax_state', None)\n"
        "    importlib.import_module('keras.src.trainers')\n"
        "    self._own = _distribute._helper\n"
        "    return model.__class__\n"
    )
    lines = sorted(int(f.split(":")[1]) for f in _findings(sample, package))
    assert lines == [2, 5, 6, 7]


def test_no_private_keras_access_outside_the_private_module():
    """Only ``keras_recipes/_keras_private.py`` touches private attributes of others' objects."""
    found = [f for path in _library_files() for f in _findings(path)]
    assert not found, (
        "Private attributes or keras.src used outside keras_recipes/_keras_private.py; move each "
        "into a named function there (and a test in tests/test_private_keras.py), or add "
        "it to ALLOWED with a reason if the object is the library's own:\n  "
        + "\n  ".join(found))


def _class_definitions(library: pathlib.Path) -> dict[str, list[tuple[ast.ClassDef, str]]]:
    classes: dict[str, list] = {}
    for path in sorted(library.rglob("*.py")):
        relative = path.relative_to(library).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, []).append((node, relative))
    return classes


def _defined_in(cls: ast.ClassDef) -> set[str]:
    """Names a class body defines: methods, class attributes, ``__slots__``, ``self.x =``."""
    names = set()
    for statement in cls.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(statement.name)
        elif isinstance(statement, ast.Assign | ast.AnnAssign):
            targets = statement.targets if isinstance(statement, ast.Assign) else [
                statement.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                    if target.id == "__slots__":
                        names.update(c.value for c in ast.walk(statement.value)
                                     if isinstance(c, ast.Constant))
    for node in ast.walk(cls):
        if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            names.add(node.attr)
    return names


def _inherited_findings(library: pathlib.Path) -> list[str]:
    """``self._x`` / ``cls._x`` reads whose name no library class (or library base) defines."""
    classes = _class_definitions(library)

    def defined_by_library(name: str, seen: set) -> set[str]:
        names = set()
        for cls, _ in classes.get(name, []):
            if id(cls) in seen:
                continue
            seen.add(id(cls))
            names |= _defined_in(cls)
            for base in cls.bases:
                if isinstance(base, ast.Name):
                    names |= defined_by_library(base.id, seen)
        return names

    found = []
    for name, definitions in classes.items():
        known = defined_by_library(name, set())
        for cls, relative in definitions:
            if relative == "_keras_private.py":
                continue
            for node in ast.walk(cls):
                if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
                        and _private(node.attr) and isinstance(node.value, ast.Name)
                        and node.value.id in ("self", "cls") and node.attr not in known):
                    found.append(f"keras_recipes/{relative}:{node.lineno}: "
                                 f"{name}: {ast.unparse(node)}")
    return found


def test_inherited_scan_finds_what_it_looks_for(tmp_path):
    """The scan itself: a Keras base's private method is reported, the library's own not."""
    (tmp_path / "sample.py").write_text(
        "import keras\n"
        "class Base:\n"
        "    _level = 1\n"
        "    def __init__(self):\n"
        "        self._mine = 1\n"
        "class Opt(keras.optimizers.Optimizer, Base):\n"
        "    __slots__ = ('_slot',)\n"
        "    def update_step(self, g, v, lr):\n"
        "        return self._mine, self._level, self._slot, self._get_variable_index(v)\n"
    )
    found = _inherited_findings(tmp_path)
    assert found == ["keras_recipes/sample.py:9: Opt: self._get_variable_index"]


def test_no_inherited_private_keras_attribute_through_self():
    """``self._x`` in a library class must name an attribute a library class defines.

    A subclass of a Keras class (optimizer, callback) that reads a private attribute of
    its Keras base through ``self`` depends on Keras internals just as ``model._x`` does:
    it goes through ``_keras_private`` too (e.g.
    ``_keras_private.variable_index(self, variable)``).
    """
    found = _inherited_findings(LIBRARY)
    assert not found, (
        "Attributes read through self/cls that no library class defines (a Keras base "
        "class's private attribute?); go through keras_recipes._keras_private:\n  "
        + "\n  ".join(found))
