"""Saved models reload in a fresh process that imports only ``keras_recipes``.

Two views: models holding every family of the library's Keras objects, saved to ``.keras``
and reloaded in fresh processes; and every class that the sources register with Keras
(listed with ``ast``), each saved in one fresh process and reloaded in another.
"""

from __future__ import annotations

import ast
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_recipes
from keras_recipes import initializers, layers, optimizers, regularizers, schedules

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _every_family_models():
    """(name, model) pairs that together hold every registered family of Keras objects."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.integers(0, 3, size=32)

    def net(init, reg):
        inputs = keras.Input((6,))
        h = layers.DenseBlock(8, kernel_initializer=init)(inputs)
        h = layers.Swish()(h)
        h = keras.layers.Dense(8, kernel_initializer=initializers.GlorotUniform(seed=1),
                               kernel_regularizer=reg)(h)
        h = layers.GLU(4)(h)
        h = layers.MinMaxNormalization()(h)
        outputs = keras.layers.Dense(3, activation="softmax",
                                     kernel_initializer=initializers.TorchDefault(seed=2))(h)
        return keras.Model(inputs, outputs)

    combos = {
        "yogi_onecycle": (optimizers.Yogi(schedules.OneCycle(0.01, 20)),
                          initializers.HeNormal(seed=0), regularizers.L2(0.01, 32)),
        "lookahead_warmup": (
            optimizers.Lookahead(optimizers.NesterovRMSprop(
                schedules.Warmup(schedules.InverseSqrtDecay(0.01, 5), 3))),
            initializers.HeUniform(seed=0), regularizers.L1(0.01, 32)),
        "radam_chain": (
            optimizers.RAdam(schedules.Chain([
                (5, schedules.CyclicLR(1e-3, 1e-2, 2)),
                (5, schedules.MultiStepDecay([3], values=[1e-2, 1e-3]))])),
            initializers.GlorotNormal(seed=0), None),
        "sgd_restarts": (
            keras.optimizers.SGD(schedules.WarmRestarts(
                keras.optimizers.schedules.CosineDecay(0.01, 4), t_mult=2.0, period=4)),
            initializers.HeNormal(seed=3), regularizers.L2(0.001, 10)),
    }
    for name, (opt, init, reg) in combos.items():
        model = net(init, reg)
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        yield name, model, x


LOADER = textwrap.dedent("""
    import json, sys
    {imports}
    import numpy as np
    out = {{}}
    for name, path in json.loads(sys.argv[1]).items():
        model = keras.saving.load_model(path)
        x = np.load(path + ".x.npy")
        out[name] = {{"pred": np.asarray(model.predict(x, verbose=0)).tolist(),
                     "optimizer": type(model.optimizer).__name__,
                     "iterations": int(model.optimizer.iterations.numpy()
                                       if hasattr(model.optimizer.iterations, "numpy")
                                       else model.optimizer.iterations)}}
    print(json.dumps(out))
""")


def _load_in_fresh_process(paths, imports):
    env = dict(os.environ, PYTHONPATH=ROOT)
    code = LOADER.format(imports=imports)
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(paths)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # test_every_registered_class_reloads_... covers every class
@pytest.mark.integration  # fresh processes; the same on both backends
def test_every_family_reloads_with_only_import_keras_recipes(tmp_path):
    paths, expected = {}, {}
    for name, model, x in _every_family_models():
        path = str(tmp_path / f"{name}.keras")
        model.save(path)
        np.save(path + ".x.npy", x)
        paths[name] = path
        expected[name] = (np.asarray(model.predict(x, verbose=0)), type(model.optimizer).__name__,
                          int(keras.ops.convert_to_numpy(model.optimizer.iterations)))
    loaded = _load_in_fresh_process(paths, "import keras_recipes\nimport keras")
    for name, (pred, opt_name, iterations) in expected.items():
        np.testing.assert_allclose(np.asarray(loaded[name]["pred"]), pred, atol=1e-6)
        assert loaded[name]["optimizer"] == opt_name
        assert loaded[name]["iterations"] == iterations == 2


@pytest.mark.slow
def test_plain_keras_without_keras_recipes_cannot_resolve_the_names(tmp_path):
    # The counterpart: what the registration buys. Without importing keras_recipes, Keras
    # cannot locate the classes.
    name, model, x = next(_every_family_models())
    path = str(tmp_path / "m.keras")
    model.save(path)
    code = f"import keras\nkeras.saving.load_model({path!r})"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode != 0
    assert "keras_recipes>" in proc.stderr or "Could not locate" in proc.stderr


def test_register_keras_objects_lists_every_family():
    names = keras_recipes.register_keras_objects()
    for expected in ("keras_recipes>OneCycle", "keras_recipes>Yogi", "keras_recipes>Lookahead",
                     "keras_recipes>HeNormal", "keras_recipes>Swish", "keras_recipes>L2",
                     "keras_recipes>EarlyStopping"):
        assert expected in names
    assert names == sorted(names)


def test_load_model_is_keras_load_model_after_registration(tmp_path):
    _, model, x = next(_every_family_models())
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras_recipes.load_model(path, compile=False)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


# --------------------------------------------- every registered class, from the sources

PACKAGE_DIR = os.path.join(ROOT, "keras_recipes")
_DECORATORS = {"keras_recipes_export", "register_keras_serializable"}

# Constructor arguments of one instance of each registered class (by registered name). A
# class added to the library without a row here fails the test, which names it.
SAMPLES = {
    "CenteredUniform": "seed=1",
    "GlorotNormal": "seed=1",
    "HeNormal": "seed=1",
    "KaimingBias": "fan_in=10, seed=1",
    "SmallNormal": "seed=1",
    "TorchDefault": "seed=1",
    "UnitUniform": "seed=1",
    "L1": "0.01, 32",
    "L2": "0.02, 64",
    "ConvBlock": "4, kernel_size=3",
    "DenseBlock": "4",
    "GLU": "4",
    "GeGLU": "4",
    "SwiGLU": "4",
    "MinMaxNormalization": "clip=True",
    "ResidualBlock": "4",
    "Swish": "beta=1.5",
    "MemberAverage": "member_weights=[0.25, 0.75]",
    "MajorityVote": "",
    "Lookahead": "keras.optimizers.SGD(0.1), sync_period=3",
    "NesterovRMSprop": "learning_rate=0.01",
    "RAdam": "learning_rate=0.02",
    "Yogi": "learning_rate=0.03",
    "Chain": "[(5, kr.schedules.CyclicLR(1e-3, 1e-2, 2)), "
             "(5, kr.schedules.MultiStepDecay([3], values=[1e-2, 1e-3]))]",
    "CyclicLR": "1e-3, 1e-2, 2",
    "InverseSqrtDecay": "0.01, 5",
    "MultiStepDecay": "[3, 6], values=[1e-2, 1e-3, 1e-4]",
    "FlooredMultiStepDecay": "[3], values=[1e-2, 1e-3], min_lr=1e-4",
    "OneCycle": "0.1, 100",
    "OneCycleMomentum": "100",
    "WarmRestarts": "keras.optimizers.schedules.CosineDecay(0.01, 4), t_mult=2.0, period=4",
    "Warmup": "kr.schedules.InverseSqrtDecay(0.01, 5), 3",
    "ConvergenceStopping": "window=4",
    "EarlyStopping": "monitor='val_accuracy', patience=2, stopping_threshold=0.99",
    "GeneralizationGapStopping": "max_gap=0.1",
    "HyperparameterScheduler": "{'momentum': kr.schedules.OneCycleMomentum(100)}",
    "KeepBest": "monitor='loss'",
    "LearningRateMonitor": "key='learning_rate'",
    "NaNGuard": "",
    "PrecheltStopping": "'GL', alpha=5",
    "ReduceLROnPlateau": "factor=0.5, patience=2",
    "TimeBudget": "seconds=60",
    "Watchdog": "",
    "DiagnosticLogger": "every_n_epochs=2",
    "LRFinder": "min_lr=1e-5, max_lr=1.0, num_steps=20",
    "StageProgress": "stage=1",
}


def registered_in_sources(package_dir: str = PACKAGE_DIR) -> dict[str, str]:
    """``{registered name: "file:Class"}`` of every class the sources register with Keras.

    Read with ``ast``: a class decorated with ``keras_recipes_export`` (bare, or called with
    ``name=...``) or with ``keras.saving.register_keras_serializable``.
    """
    found = {}
    for path in sorted(pathlib.Path(package_dir).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.ClassDef):
                continue
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                target = call.func if call else decorator
                name = target.attr if isinstance(target, ast.Attribute) else getattr(
                    target, "id", None)
                if name not in _DECORATORS:
                    continue
                registered = node.name
                for keyword in call.keywords if call else ():
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                        registered = keyword.value.value
                where = f"{path.relative_to(pathlib.Path(package_dir).parent)}:{node.name}"
                found[f"keras_recipes>{registered}"] = where
    return found


def test_source_scan_finds_both_decorator_forms(tmp_path):
    (tmp_path / "keras_recipes").mkdir()
    (tmp_path / "keras_recipes" / "m.py").write_text(
        "import keras\n"
        "@keras_recipes_export\nclass A: pass\n"
        "@keras_recipes_export(name='Bee')\nclass _B: pass\n"
        "@keras.saving.register_keras_serializable(package='keras_recipes')\nclass C: pass\n"
        "@other\nclass D: pass\n")
    assert set(registered_in_sources(str(tmp_path / "keras_recipes"))) == {
        "keras_recipes>A", "keras_recipes>Bee", "keras_recipes>C"}


def test_every_registered_class_has_a_sample():
    names = {name.split(">", 1)[1] for name in registered_in_sources()}
    assert len(names) > 40  # the scan reads the real package
    assert names == set(SAMPLES), (
        f"add a row to SAMPLES for {sorted(names - set(SAMPLES))}; "
        f"remove {sorted(set(SAMPLES) - names)}")


SAVER = textwrap.dedent("""
    import json, sys
    import keras_recipes as kr
    import keras
    registry = keras.saving.get_custom_objects()
    names = json.loads(sys.argv[1])
    missing = [n for n in names if n not in registry]
    objects = {{{objects}}}
    saved = {{n: keras.saving.serialize_keras_object(o) for n, o in objects.items()}}
    json.dump({{"missing": missing, "saved": saved}}, open(sys.argv[2], "w"))
""")

RELOADER = textwrap.dedent("""
    import json, sys
    import keras_recipes
    import keras
    saved = json.load(open(sys.argv[1]))["saved"]
    out = {}
    for name, config in saved.items():
        obj = keras.saving.deserialize_keras_object(config)
        out[name] = [type(obj).__module__ + "." + type(obj).__qualname__,
                     keras.saving.serialize_keras_object(obj)]
    print(json.dumps(out))
""")


def _python(code: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.backend  # saving and loading
# on JAX and torch in `make test-all`; `make test` reloads on them in tests/test_cross_backend.py
@pytest.mark.slow_elsewhere
def test_every_registered_class_reloads_with_only_import_keras_recipes(tmp_path):
    """Save one of each in a fresh process, load each in another; both import only
    ``keras_recipes`` (Keras comes with it)."""
    sources = registered_in_sources()
    objects = ", ".join(f"{name!r}: registry[{name!r}]({SAMPLES[name.split('>', 1)[1]]})"
                        for name in sorted(sources))
    path = str(tmp_path / "saved.json")
    _python(SAVER.format(objects=objects), json.dumps(sorted(sources)), path)
    with open(path) as handle:
        written = json.load(handle)
    assert written["missing"] == [], "not registered by `import keras_recipes`"
    reloaded = json.loads(_python(RELOADER, path).strip().splitlines()[-1])
    assert sorted(reloaded) == sorted(sources)
    for name, (class_path, config) in reloaded.items():
        module, _, qualname = class_path.rpartition(".")
        assert module.startswith("keras_recipes.") and sources[name].endswith(f":{qualname}")
        assert config == written["saved"][name], name  # same class, same configuration


def test_registry_holds_the_sources_classes_and_the_former_names():
    from keras_recipes.initializers.keras_initializers import FORMER_NAMES

    # A subset here: tests and doctests may register classes of their own in this process;
    # the fresh process above checks the registry that `import keras_recipes` alone makes.
    assert set(registered_in_sources()) | set(FORMER_NAMES) <= set(
        keras_recipes.register_keras_objects())


def _imported_modules(*args: str) -> set[str]:
    """Modules a fresh interpreter imports for ``python -X importtime *args``."""
    done = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                          text=True, check=False, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:")}


@pytest.mark.slow  # heavy: `make test-all`
def test_import_registers_at_once_but_the_command_line_imports_no_keras():
    # A script: `import keras_recipes` alone imports Keras and every registering module.
    wanted = ["keras", "keras_recipes.optimizers", "keras_recipes.workflows.progress"]
    done = subprocess.run(
        [sys.executable, "-c", "import sys, keras_recipes; "
         f"print([m in sys.modules for m in {wanted!r}])"],
        capture_output=True, text=True, check=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.stdout.split()[-3:] == ["[True,", "True,", "True]"]
    # The command: nothing of Keras before the arguments are parsed.
    command = _imported_modules("-m", "keras_recipes.cli", "--help")
    assert "keras" not in command and "tensorflow" not in command
    assert "keras_recipes.optimizers" not in command


def test_import_keras_objects_is_idempotent():
    before = keras_recipes.register_keras_objects()
    keras_recipes.import_keras_objects()
    assert keras_recipes.register_keras_objects() == before
    assert "keras_recipes>Yogi" in before


@pytest.mark.slow  # heavy: `make test-all`
def test_the_command_loads_a_model_that_holds_library_objects(tmp_path):
    # Inside the command the package defers its imports; keras_recipes.load_model (used by
    # the workflows to reload a stage) must still find every class, here OneCycle.
    from keras_recipes.schedules import OneCycle

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.AdamW(OneCycle(0.1, 10)), loss="mse")
    path = tmp_path / "m.keras"
    model.save(path)
    code = ("KERAS_RECIPES_COMMAND_LINE = True\n"
            "import sys, keras_recipes\n"
            "assert 'keras_recipes.schedules' not in sys.modules\n"
            f"m = keras_recipes.load_model({str(path)!r})\n"
            "print(type(m.optimizer._learning_rate).__name__)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "OneCycle"
