"""The release: the wheel builds without warnings, holds every module and data file, and
installs into a clean virtualenv where the package imports, its command runs and a model
trains with a callback, away from the source tree.

Two variants of the install test:

- ``test_wheel_installs_in_clean_venv`` (``integration``, in ``make test``): builds the wheel
  without build isolation, installs it with ``--no-deps`` into a new virtualenv without system
  site packages, and makes the dependencies already installed in this process's environment
  visible through a ``.pth`` file that names its site-packages folder. A path line in a
  ``.pth`` file does not process that folder's own ``.pth`` files, so the editable install of
  the source tree stays invisible; the test checks that ``keras_recipes`` is imported from the
  new virtualenv.
- ``test_release_build_installs_with_dependencies`` (``slow``, in ``make test-all`` and
  ``make release-check``): ``python -m build`` (sdist, then the wheel from the sdist) with
  build isolation, ``twine check --strict``, and ``pip install`` of the wheel with its
  dependencies from the pip cache or the package index into a fresh virtualenv.

Every build works on a copy of the files the build reads, so the source tree gets no
``build/`` or ``*.egg-info`` folder from the tests.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "keras_recipes"
# What the build reads: the package, the metadata files, MANIFEST.in and what it adds, the
# licence.
BUILD_INPUTS = ("keras_recipes", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md",
                "CHANGELOG.md", "LICENSE")
# The one warning a build prints here that is not the package's: with
# PYTHONDONTWRITEBYTECODE set, setuptools says it skips byte-compiling.
ALLOWED_BUILD_WARNING = re.compile(r"byte-compiling is disabled")
TIMEOUT = 300


def source_version() -> str:
    """``__version__`` as written in the package's ``__init__.py`` (read, not imported)."""
    tree = ast.parse((ROOT / PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], "id", None) == "__version__"):
            return node.value.value
    raise AssertionError("keras_recipes/__init__.py sets no __version__")


def copy_build_inputs(dest: Path) -> Path:
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in BUILD_INPUTS:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


def run(cmd, *, env=None, cwd=None, timeout=TIMEOUT) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited with {proc.returncode}\n"
        f"--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    return proc


def tool_env() -> dict[str, str]:
    """This process's environment for build and pip steps (keeps the pip configuration and
    cache), without anything that would put the source tree or this venv on a child's path."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def clean_env(venv: Path, home: Path, backend: str) -> dict[str, str]:
    """A minimal environment: the venv's bin first on PATH, an empty HOME, no PYTHONPATH."""
    return {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.defpath}",
        "HOME": str(home),
        "TMPDIR": str(home),
        "LC_ALL": "C.UTF-8",
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MPLBACKEND": "Agg",
        # the dependencies may come from this process's venv: leave its files untouched
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def venv_site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def wheel_of(dist: Path) -> Path:
    wheels = sorted(dist.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def build_warnings(log: str) -> list[str]:
    return [line for line in log.splitlines()
            if re.search(r"warn", line, re.IGNORECASE) and not ALLOWED_BUILD_WARNING.search(line)]


@pytest.fixture(scope="module")
def built_wheel(tmp_path_factory):
    """(wheel path, build output): a wheel built without isolation from a copy of the inputs."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = copy_build_inputs(tmp / "src")
    proc = run([sys.executable, "-m", "build", "--wheel", "--no-isolation",
                "--outdir", tmp / "dist", src], env=tool_env(), cwd=tmp)
    return wheel_of(tmp / "dist"), proc.stdout + proc.stderr


# --- the script run inside the clean virtualenv ----------------------------------------------

CHECK_SCRIPT = r'''
import importlib.metadata
import importlib.resources
import json
import sys

import numpy as np

import keras_recipes
import keras
from keras_recipes.callbacks import EarlyStopping, LearningRateMonitor
from keras_recipes.schedules import MultiStepDecay

rng = np.random.default_rng(0)
x = rng.normal(size=(16, 4)).astype("float32")
y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_initializer="zeros")])
schedule = MultiStepDecay([1, 2], factor=0.5, initial_learning_rate=0.05, steps_per_epoch=1)
model.compile(keras.optimizers.SGD(schedule), "mse")
stopper = EarlyStopping(monitor="loss", patience=3)
history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                    callbacks=[LearningRateMonitor(), stopper])
model.save("model.keras")
reloaded = keras.saving.load_model("model.keras")
dist = importlib.metadata.distribution("keras-recipes")
print(json.dumps({
    "prefix": sys.prefix,
    "sys_path": sys.path,
    "editable_finders": sorted(m for m in sys.modules if m.startswith("__editable__")),
    "package_file": keras_recipes.__file__,
    "keras_file": keras.__file__,
    "backend": keras.backend.backend(),
    "version": keras_recipes.__version__,
    "dist_version": dist.version,
    "dist_location": str(dist.locate_file("")),
    "py_typed": importlib.resources.files("keras_recipes").joinpath("py.typed").is_file(),
    "loss": [float(v) for v in history.history["loss"]],
    "lr": [float(v) for v in history.history["lr"]],
    "stop_reason": stopper.stop_reason.value,
    "best_epoch": stopper.best_epoch,
    "reloaded_schedule": reloaded.optimizer.get_config()["learning_rate"]["registered_name"],
    "reloaded_iterations": int(keras.ops.convert_to_numpy(reloaded.optimizer.iterations)),
    "prediction_difference": float(np.max(np.abs(reloaded.predict(x, verbose=0)
                                                 - model.predict(x, verbose=0)))),
}))
'''


def expected_training():
    """The two epochs' losses by hand: full-batch gradient descent on the MSE of a zero-initialised
    Dense(1), learning rate 0.05 for the first step; the losses Keras logs are those before each
    step. The schedule halves the rate at steps 1 and 2, so the logged rates are 0.025, 0.0125."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float64")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0]))[:, None]
    w, b = np.zeros((4, 1)), 0.0
    loss0 = float(np.mean((x @ w + b - y) ** 2))
    residual = x @ w + b - y
    w = w - 0.05 * (2 / len(x)) * x.T @ residual
    b = b - 0.05 * (2 / len(x)) * float(residual.sum())
    loss1 = float(np.mean((x @ w + b - y) ** 2))
    return [loss0, loss1], [0.025, 0.0125]


def check_installed(venv: Path, tmp: Path, backend: str, *, editable_site: Path | None) -> dict:
    """Run the command and the training script in ``venv`` from an empty folder with a clean
    environment; check everything comes from the venv, not from the source tree."""
    work, home = tmp / "work", tmp / "home"
    work.mkdir()
    home.mkdir()
    env = clean_env(venv, home, backend)
    python = venv / "bin" / "python"

    command = venv / "bin" / "keras-recipes"
    assert command.read_text(encoding="utf-8").splitlines()[0] == f"#!{python}"
    helped = run([command, "--help"], env=env, cwd=work)
    assert helped.stdout.startswith("usage: keras-recipes")
    assert re.search(r"^\s+datasets\s+list the data set names", helped.stdout, re.MULTILINE)
    listed = run([command, "datasets"], env=env, cwd=work).stdout
    rows = {line.split()[0]: line.split()[1:] for line in listed.splitlines()[1:-1]}
    # digits ships inside scikit-learn's wheel; the generated sets need nothing either
    assert rows["digits"][0] == "yes" and "scikit-learn" in " ".join(rows["digits"]), listed
    assert rows["moons"][0] == "yes", listed

    script = work / "check.py"
    script.write_text(CHECK_SCRIPT, encoding="utf-8")
    out = json.loads(run([python, script], env=env, cwd=work).stdout.strip().splitlines()[-1])

    prefix = str(venv)
    assert out["prefix"] == prefix
    assert out["package_file"] == str(venv_site_packages(venv) / PACKAGE / "__init__.py")
    assert out["dist_location"] == str(venv_site_packages(venv))
    assert not any(p == str(ROOT) or (p.startswith(str(ROOT) + os.sep)
                                      and Path(p) != editable_site) for p in out["sys_path"]), \
        out["sys_path"]
    assert out["editable_finders"] == []  # the source tree's editable install stayed off
    assert out["version"] == out["dist_version"] == source_version()
    assert out["py_typed"] is True
    assert out["backend"] == backend

    losses, rates = expected_training()
    np.testing.assert_allclose(out["loss"], losses, rtol=1e-4)
    assert out["loss"][1] < out["loss"][0]
    np.testing.assert_allclose(out["lr"], rates, rtol=1e-6)
    assert out["stop_reason"] == "not_stopped" and out["best_epoch"] == 1
    assert out["reloaded_schedule"] == "keras_recipes>MultiStepDecay"
    assert out["reloaded_iterations"] == 2
    assert out["prediction_difference"] == 0.0
    return out


# --- wheel contents ---------------------------------------------------------------------------


@pytest.mark.integration
def test_wheel_contents_and_build_warnings(built_wheel):
    wheel, log = built_wheel
    version = source_version()
    assert wheel.name == f"keras_recipes-{version}-py3-none-any.whl"
    assert build_warnings(log) == [], "\n".join(build_warnings(log))

    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        info = f"keras_recipes-{version}.dist-info"
        metadata = zf.read(f"{info}/METADATA").decode("utf-8")
        entry_points = zf.read(f"{info}/entry_points.txt").decode("utf-8")

    # every module and every run-time data file of the package (anything under
    # keras_recipes/ that is not a module: py.typed today) is in the wheel
    source_files = {p.relative_to(ROOT).as_posix() for p in (ROOT / PACKAGE).rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    data_files = {name for name in source_files if not name.endswith(".py")}
    assert f"{PACKAGE}/py.typed" in data_files
    assert source_files <= names, sorted(source_files - names)
    # and nothing else: no tests, notebooks, recipes or benchmarks
    packaged = {name for name in names if not name.startswith(info + "/")}
    assert packaged == source_files, sorted(packaged - source_files)
    assert f"{info}/licenses/LICENSE" in names

    fields = [line.split(": ", 1) for line in metadata.split("\n\n", 1)[0].splitlines()]
    assert ["Version", version] in fields
    assert ["License-Expression", "Apache-2.0"] in fields
    assert ["License-File", "LICENSE"] in fields
    assert not [v for k, v in fields if k == "Classifier" and v.startswith("License ::")]
    assert re.search(r"^keras-recipes = keras_recipes\.cli:main$", entry_points, re.MULTILINE)


# --- the install tests ------------------------------------------------------------------------


@pytest.mark.integration
def test_wheel_installs_in_clean_venv(built_wheel, tmp_path):
    wheel, _ = built_wheel
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], env=tool_env())
    # pip run by this interpreter installs into the new venv (--python): nothing to download
    run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install",
         "--no-deps", "--no-index", "--quiet", wheel], env=tool_env(), cwd=tmp_path)
    # the dependencies come from this process's venv, named by a path line in a .pth file,
    # written after the install so that pip never sees this venv's editable keras_recipes
    ours = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    (venv_site_packages(venv) / "_release_test_dependencies.pth").write_text(
        "".join(f"{p}\n" for p in ours), encoding="utf-8")
    editable_site = Path(sysconfig.get_paths()["purelib"])
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    out = check_installed(venv, tmp_path, backend, editable_site=editable_site)
    assert out["keras_file"].startswith(str(editable_site))


# tf_only: a plain `pip install keras-recipes` brings TensorFlow as its only backend, so the
# installed venv trains on it whatever this process's backend; the JAX lane of `make test-all`
# would repeat the same run.
@pytest.mark.slow
@pytest.mark.tf_only
def test_release_build_installs_with_dependencies(tmp_path):
    src = copy_build_inputs(tmp_path / "src")
    dist = tmp_path / "dist"
    log = run([sys.executable, "-m", "build", "--outdir", dist, src], env=tool_env(),
              cwd=tmp_path)
    assert build_warnings(log.stdout + log.stderr) == []
    version = source_version()
    sdist = dist / f"keras_recipes-{version}.tar.gz"
    with tarfile.open(sdist) as tf:
        in_sdist = {name.split("/", 1)[1] for name in tf.getnames() if "/" in name}
    top = {name.split("/", 1)[0] for name in in_sdist if name}
    assert top == {"LICENSE", "PKG-INFO", "setup.cfg", "pyproject.toml", "MANIFEST.in",
                   "README.md", "CHANGELOG.md", PACKAGE, "keras_recipes.egg-info"}, sorted(top)
    assert {f"{PACKAGE}/py.typed", f"{PACKAGE}/cli.py"} <= in_sdist
    checked = run([sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.iterdir())],
                  env=tool_env())
    assert checked.stdout.count("PASSED") == 2, checked.stdout

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], env=tool_env())
    run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel_of(dist)],
        env=tool_env(), cwd=tmp_path, timeout=1200)
    out = check_installed(venv, tmp_path, "tensorflow", editable_site=None)
    # the dependencies were installed into the venv too
    assert out["keras_file"].startswith(str(venv_site_packages(venv)))
