"""GPU suite: optimizer steps, callback overheads, range test and steamroller, per backend.

One script, sized to finish in under 8 minutes on one GPU, that measures on each Keras
backend (TensorFlow, JAX, PyTorch), each in its own fresh process (the backend is fixed when
Keras is imported):

* **optimizer step ratios**: time per training step of keras_recipes' ``Yogi``, ``RAdam``
  and ``Lookahead(Adam)`` against Keras's ``Adam``, and of ``NesterovRMSprop`` against
  Keras's ``RMSprop``, on the same MLP in the same process (ratio = ours / Keras). Every
  model is compiled and warmed up first, then one-epoch fits are interleaved round robin
  so that the machine's load affects every optimizer alike; the step time is the median
  epoch time over the steps per epoch;
* **callback overheads**: a CNN on the CIFAR-shaped set fitted alternately without and with
  a :class:`~keras_recipes.diagnostics.DiagnosticLogger` (``data=`` the training set, its
  default probe) and a :class:`~keras_recipes.callbacks.Watchdog`, on the same compiled
  model; the ratio is the median over rounds of (median epoch time with) / (without),
  the first epoch of every fit left out (steady state);
* **range test**: :func:`~keras_recipes.lr_finder.find_lr` on a small CNN, twice: the first
  call includes compiling the step, the second is warm;
* **steamroller**: :func:`keras_recipes.workflows.steamroller` with the ``"cnn"`` preset on a
  generated CIFAR-shaped set (32×32×3, 10 classes: a blocky colour pattern per class,
  shifted by a few pixels, under Gaussian noise; NumPy only, no download): wall time per
  stage, status and test accuracy. The default sizes run the ``"cnn"`` preset with its range
  tests; ``--quick`` trains a 8-16-filter CNN at a fixed rate of 3e-3 instead (on 8 examples
  the range test's valley rate needs more stage-1 epochs than a smoke test can pay for).

It records the device (the GPU's name from ``nvidia-smi``, else the backend's device list,
else ``CPU``), the library versions and the date, prints a Markdown table and writes JSON.
A backend that is not installed is reported as skipped; a measurement that fails is
recorded with its error, the others go on. Each backend's process has a time limit (the
whole budget, ``--budget`` seconds, shared among the backends still to run; time a backend
leaves unused goes to the next), and its finished measurements survive the limit.

Run on a GPU machine (the default sizes are for one GPU)::

    python benchmarks/gpu_suite.py            # writes benchmarks/results/gpu_suite.json
    python benchmarks/gpu_suite.py --backends jax,torch --out /tmp/gpu.json
    python benchmarks/gpu_suite.py --quick    # tiny sizes: a smoke test (< 3 min, 2 CPU cores)
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULT = HERE / "results" / "gpu_suite.json"
BACKENDS = ("tensorflow", "jax", "torch")
SECTIONS = ("optimizers", "logger_overhead", "watchdog_overhead", "range_test", "steamroller")
#: Seconds for the whole run, parent included: under 8 minutes.
BUDGET_S = 450.0

#: Sizes of each mode. ``gpu``: one GPU, well under the budget; ``quick``: a smoke test on
#: CPU (the steamroller trains :func:`tiny_cnn` at a fixed rate there).
SIZES = {
    "gpu": {
        "images": 6000, "optimizer_width": 2048, "optimizer_batch": 256,
        "optimizer_steps": 40, "optimizer_rounds": 5,
        "cnn_filters": [32, 64, 128], "overhead_batch": 128, "overhead_epochs": 4,
        "overhead_repeats": 3, "range_test_steps": 100, "range_test_batch": 128,
        "steamroller_model": "cnn", "steamroller_learning_rate": None,
        "steamroller": {"stage1_per_class": 10, "stage1_epochs": 100, "stage2_epochs": 10,
                        "stage3_epochs": 10, "batch_size": 64, "lr_finder_steps": 50,
                        "grow": False},
    },
    "quick": {
        "images": 160, "optimizer_width": 64, "optimizer_batch": 32,
        "optimizer_steps": 4, "optimizer_rounds": 3,
        "cnn_filters": [4, 8], "overhead_batch": 32, "overhead_epochs": 2,
        "overhead_repeats": 1, "range_test_steps": 10, "range_test_batch": 32,
        "steamroller_model": "tiny_cnn", "steamroller_learning_rate": 3e-3,
        "steamroller": {"stage1_per_class": 4, "stage1_epochs": 30,
                        "stage1_min_train_accuracy": 0.75, "stage2_epochs": 1,
                        "stage2_min_val_accuracy": 0.01, "stage3_epochs": 1, "batch_size": 32,
                        "lr_finder_steps": 10, "minibatch_steps": 5, "minibatch_max_loss": 10.0,
                        "grow": False},
    },
}
#: Optimizer name -> (Keras baseline it is compared with, constructor of ours).
OURS = {"Yogi": "Adam", "NesterovRMSprop": "RMSprop", "RAdam": "Adam",
        "Lookahead(Adam)": "Adam"}


# ------------------------------------------------------------------------------ parent side
def gpu_names() -> list[str]:
    """The GPUs ``nvidia-smi`` lists (name, memory), or ``[]`` without it."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=name,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def installed(backend: str) -> bool:
    return importlib.util.find_spec(backend) is not None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_backend(backend: str, mode: str, limit_s: float) -> dict:
    """Run every measurement of ``backend`` in a fresh process, killed after ``limit_s``."""
    if not installed(backend):
        return {"status": "skipped", "reason": f"{backend} is not installed"}
    with tempfile.TemporaryDirectory() as tmp:
        partial = Path(tmp) / "result.json"
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        deadline = time.time() + limit_s
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", backend,
               "--mode", mode, "--child-out", str(partial), "--deadline", repr(deadline)]
        start, cpu = time.perf_counter(), _children_cpu()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=limit_s, check=False)
            status = "ok" if proc.returncode == 0 else "failed"
            log = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            status = "timed_out"
            log = "".join(s.decode(errors="replace") if isinstance(s, bytes) else (s or "")
                          for s in (exc.stdout, exc.stderr))
        wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
        result = json.loads(partial.read_text()) if partial.exists() else {}
    sections = result.setdefault("sections", {})
    for name in SECTIONS:
        if name not in sections:
            sections[name] = {"status": "not_run", "reason": (
                f"the backend's time limit ({limit_s:.0f} s) was reached" if status == "timed_out"
                else "the backend's process ended first (see `log_tail`)")}
    if status == "ok" and any(s["status"] != "ok" for s in sections.values()):
        status = "partial"
    result.update({"status": status, "limit_s": round(limit_s, 1), "wall_s": round(wall, 1),
                   "cpu_s": round(cpu, 1)})
    if status != "ok":
        result["log_tail"] = log[-2000:]
    return result


def _fmt(value, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def table(results: dict) -> str:
    """The Markdown table of a suite's JSON (``results["backends"]``)."""
    head = ["backend", "device"] + [f"{ours} / {base}" for ours, base in OURS.items()] + [
        "logger / plain", "watchdog / plain", "range test (s, warm)", "steamroller (s)",
        "steamroller test acc.", "status"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for backend, r in results["backends"].items():
        sec = r.get("sections", {})
        ratios = sec.get("optimizers", {}).get("ratios", {})
        steam = sec.get("steamroller", {})
        cells = [backend, r.get("device", "—")]
        cells += [_fmt(ratios.get(name), ".3f") for name in OURS]
        cells += [_fmt(sec.get(s, {}).get("ratio"), ".3f")
                  for s in ("logger_overhead", "watchdog_overhead")]
        cells += [_fmt(sec.get("range_test", {}).get("warm_s")), _fmt(steam.get("wall_s"), ".1f"),
                  _fmt(steam.get("test_accuracy"), ".3f")]
        bad = [f"{s}: {v['status']}" for s, v in sec.items() if v.get("status") != "ok"]
        cells.append(r["status"] + (f" ({'; '.join(bad)})" if bad else "")
                     + (f": {r['reason']}" if r.get("reason") else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write(results: dict, out: Path) -> None:
    """Write ``results`` to ``out`` atomically (a reader never sees half a file)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)


def parent(args) -> int:
    start = time.perf_counter()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown or not backends:
        raise SystemExit(f"Argument `--backends` must be a comma-separated list of "
                         f"{', '.join(BACKENDS)}. Received: --backends={args.backends}")
    if not args.budget > 0:
        raise SystemExit(f"Argument `--budget` must be > 0 seconds. "
                         f"Received: --budget={args.budget}")
    mode = "quick" if args.quick else "gpu"
    gpus = gpu_names()
    results = {
        "suite": "benchmarks/gpu_suite.py", "mode": mode,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"device": gpus[0] if gpus else "CPU", "gpus": gpus,
                    "cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(),
                    "load_average_1m_start": round(os.getloadavg()[0], 2)},
        "command": " ".join(["python", "benchmarks/gpu_suite.py", *(args.argv or [])]),
        "budget_s": args.budget, "sizes": SIZES[mode], "backends": {},
    }
    if mode == "quick" and not gpus:
        results["note"] = (f"CPU smoke run (quick sizes, {os.cpu_count()} cores): checks that "
                           "the suite runs; its timings say nothing about a GPU.")
    elif not gpus:
        results["note"] = ("nvidia-smi found no GPU: GPU sizes on this machine's devices; the "
                           "backends' time limits may cut measurements short.")
        print(f"warning: {results['note']}", flush=True)
    todo = list(backends)
    while todo:
        backend = todo.pop(0)
        left = args.budget - (time.perf_counter() - start)
        limit = max(1.0, left / (len(todo) + 1))
        print(f"[{backend}] time limit {limit:.0f} s", flush=True)
        r = results["backends"][backend] = run_backend(backend, mode, limit)
        if r.get("device") and r["device"] != "CPU" and results["machine"]["device"] == "CPU":
            results["machine"]["device"] = r["device"]
        print(f"[{backend}] {r['status']} in {r.get('wall_s', 0)} s", flush=True)
    results["wall_s"] = round(time.perf_counter() - start, 1)
    results["machine"]["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    results["table_markdown"] = table(results)
    write(results, Path(args.out))
    print()
    print(results["table_markdown"])
    print(f"\n{results['wall_s']} s in all; wrote {args.out}")
    return 0


# ------------------------------------------------------------------------------- child side
def cifar_like(n: int, seed: int = 0, classes: int = 10):
    """A learnable CIFAR-shaped set: ``n`` 32×32×3 images in [0, 1], labels 0..9.

    Each class has a blocky colour pattern (8×8×3 Gaussian values upsampled ×4); an example
    is its class's pattern, rolled by up to 3 pixels each way, plus Gaussian noise.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    patterns = rng.normal(size=(classes, 8, 8, 3)).repeat(4, axis=1).repeat(4, axis=2)
    y = rng.permutation(np.arange(n) % classes)
    x = np.empty((n, 32, 32, 3), dtype="float32")
    for i, (dy, dx) in enumerate(rng.integers(-3, 4, size=(n, 2))):
        x[i] = np.roll(patterns[y[i]], (dy, dx), axis=(0, 1))
    x = 0.5 + 0.12 * x + 0.15 * rng.normal(size=x.shape)
    return np.clip(x, 0.0, 1.0).astype("float32"), y.astype("int64")


def _compiled(model, optimizer):
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def _median_epoch(model, x, y, batch, epochs, callbacks=()):
    """Median epoch time of one ``fit`` (the first epoch left out when there are others)."""
    from _common import EpochTimer

    timer = EpochTimer()
    model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0,
              callbacks=[*callbacks, timer])
    times = timer.times[1:] or timer.times
    return statistics.median(times)


def bench_optimizers(size, data):
    import keras
    import numpy as np

    from keras_recipes.models import baseline_mlp
    from keras_recipes.optimizers import Lookahead, NesterovRMSprop, RAdam, Yogi

    batch, steps = size["optimizer_batch"], size["optimizer_steps"]
    x = data[0][: batch * steps].reshape(-1, 32 * 32 * 3)
    x = np.resize(x, (batch * steps, x.shape[1]))
    y = np.resize(data[1], (batch * steps,))
    factories = {
        "Adam": lambda: keras.optimizers.Adam(1e-3),
        "RMSprop": lambda: keras.optimizers.RMSprop(1e-3),
        "Yogi": lambda: Yogi(1e-3), "NesterovRMSprop": lambda: NesterovRMSprop(1e-3),
        "RAdam": lambda: RAdam(1e-3),
        "Lookahead(Adam)": lambda: Lookahead(keras.optimizers.Adam(1e-3)),
    }
    models = {}
    for name, factory in factories.items():
        keras.utils.set_random_seed(0)
        width = size["optimizer_width"]
        models[name] = _compiled(baseline_mlp(x.shape[1], 10, hidden=(width, width)), factory())
        models[name].fit(x, y, batch_size=batch, epochs=1, verbose=0)  # compile, warm up
    times = {name: [] for name in models}
    for _ in range(size["optimizer_rounds"]):
        for name, model in models.items():
            times[name].append(_median_epoch(model, x, y, batch, 1) / steps)
    ms = {name: 1000 * statistics.median(t) for name, t in times.items()}
    return {"parameters": models["Adam"].count_params(), "batch_size": batch,
            "steps_per_epoch": steps, "rounds": size["optimizer_rounds"],
            "ms_per_step": ms, "ratios": {ours: ms[ours] / ms[base] for ours, base in OURS.items()},
            "compared_with": OURS}


def bench_overhead(size, data, make_callback):
    """Steady per-epoch time with ``make_callback()`` against plain ``fit``, same model."""
    import keras

    from keras_recipes.models import baseline_cnn

    x, y = data
    batch, epochs = size["overhead_batch"], size["overhead_epochs"]
    keras.utils.set_random_seed(0)
    model = _compiled(baseline_cnn((32, 32, 3), 10, filters=size["cnn_filters"]),
                      keras.optimizers.Adam(1e-3))
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # compile the train step
    plain, with_cb, stopped = [], [], 0
    for _ in range(size["overhead_repeats"]):
        plain.append(_median_epoch(model, x, y, batch, epochs))
        callback = make_callback(x, y)
        with_cb.append(_median_epoch(model, x, y, batch, epochs, [callback]))
        stopped += bool(getattr(callback, "stop_reason", None))
    ratios = [w / p for w, p in zip(with_cb, plain, strict=True)]
    return {"ratio": statistics.median(ratios), "ratios": ratios,
            "plain_epoch_s": statistics.median(plain), "with_epoch_s": statistics.median(with_cb),
            "steps_per_epoch": math.ceil(len(x) / batch), "epochs_per_fit": epochs,
            "repeats": size["overhead_repeats"], "fits_stopped_by_callback": stopped}


def bench_range_test(size, data):
    import keras

    from keras_recipes.lr_finder import find_lr
    from keras_recipes.models import baseline_cnn

    keras.utils.set_random_seed(0)
    model = _compiled(baseline_cnn((32, 32, 3), 10, filters=size["cnn_filters"]),
                      keras.optimizers.Adam(1e-3))
    out = {"num_steps": size["range_test_steps"], "batch_size": size["range_test_batch"]}
    for key in ("cold_s", "warm_s"):
        start = time.perf_counter()
        result = find_lr(model, *data, num_steps=size["range_test_steps"],
                         batch_size=size["range_test_batch"])
        out[key] = time.perf_counter() - start
    out.update({"steps_run": len(result.history), "stop_reason": result.stop_reason,
                "suggestion": result.suggestion})
    return out


def tiny_cnn(input_shape, num_classes, normalization=None, dropout=0.0):
    """The quick mode's steamroller network: the baseline CNN with 8 and 16 filters."""
    from keras_recipes.models import baseline_cnn

    return baseline_cnn(input_shape, num_classes, filters=(8, 16), dropout=dropout,
                        normalization=normalization)


def bench_steamroller(size, data):
    from keras_recipes.data import Dataset
    from keras_recipes.workflows import steamroller
    from keras_recipes.workflows.repair import TrainingSettings

    model = tiny_cnn if size["steamroller_model"] == "tiny_cnn" else size["steamroller_model"]
    rate = size["steamroller_learning_rate"]
    training = None if rate is None else TrainingSettings(learning_rate=rate)
    dataset = Dataset(*data, class_names=[f"class {i}" for i in range(10)],
                      input_shape=(32, 32, 3), name="cifar-shaped, generated")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        report = steamroller(dataset, model, out=Path(tmp) / "run", seed=0, verbose=0,
                             training=training, **size["steamroller"])
        wall = time.perf_counter() - start
    stages = {k: {"name": s.get("name"), "status": s.get("status"),
                  "epochs_run": s.get("epochs_run"), "seconds": s.get("seconds"),
                  "learning_rate": (s.get("lr") or {}).get("used"),
                  "gate": (s.get("gate") or {}).get("reason")}
              for k, s in report.summary["stages"].items()}
    return {"wall_s": wall, "run_status": report.status, "passed": report.passed,
            "test_accuracy": report.test_accuracy, "examples": len(data[0]),
            "model": size["steamroller_model"], "learning_rate": rate or "range test",
            "settings": size["steamroller"], "stages": stages}


def backend_facts(backend: str) -> dict:
    """Versions and the devices the backend sees (``device``: the first GPU's name or CPU)."""
    import keras
    import numpy as np

    import keras_recipes

    versions = {"keras": keras.__version__, "keras_recipes": keras_recipes.__version__,
                "numpy": np.__version__}
    gpus: list[str] = []
    if backend == "tensorflow":
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
        for dev in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(dev)
            gpus.append(details.get("device_name", dev.name))
    elif backend == "jax":
        import jax
        import jaxlib

        versions.update(jax=jax.__version__, jaxlib=jaxlib.__version__)
        gpus = [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    else:
        import torch

        versions["torch"] = torch.__version__
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {"versions": versions, "gpus": gpus, "device": gpus[0] if gpus else "CPU"}


def child(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, str(ROOT))
    import warnings

    from _common import jsonable

    warnings.simplefilter("ignore")
    size = SIZES[args.mode]
    result = {"backend": args.child, **backend_facts(args.child), "sections": {}}
    out = Path(args.child_out)
    write(jsonable(result), out)
    data = cifar_like(size["images"])
    from keras_recipes.callbacks import Watchdog
    from keras_recipes.diagnostics import DiagnosticLogger

    jobs = {
        "optimizers": lambda: bench_optimizers(size, data),
        "logger_overhead": lambda: bench_overhead(
            size, data, lambda x, y: DiagnosticLogger(data=(x, y))),
        "watchdog_overhead": lambda: bench_overhead(
            size, data, lambda x, y: Watchdog(data=(x, y), verbose=0)),
        "range_test": lambda: bench_range_test(size, data),
        "steamroller": lambda: bench_steamroller(size, data),
    }
    for name, job in jobs.items():
        if time.time() > args.deadline - 2:
            section = {"status": "not_run", "reason": "the backend's time limit was reached"}
        else:
            start = time.perf_counter()
            try:
                section = {"status": "ok", **job()}
            except Exception as exc:  # recorded, and the other measurements go on
                section = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:1000],
                           "traceback_tail": traceback.format_exc()[-1500:]}
            section["seconds"] = time.perf_counter() - start
        result["sections"][name] = section
        write(jsonable(result), out)
        print(f"{name}: {section['status']} ({section.get('seconds', 0):.1f} s)", flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated backends, each run in its own process. "
                             "Defaults to %(default)s.")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and few steps: a smoke test (< 3 min on 2 CPU cores)")
    parser.add_argument("--out", default=str(RESULT), help="JSON file. Defaults to %(default)s.")
    parser.add_argument("--budget", type=float, default=BUDGET_S,
                        help="seconds for all the backends together. Defaults to %(default)s.")
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=tuple(SIZES), default="gpu", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    return child(args) if args.child else parent(args)


if __name__ == "__main__":
    sys.exit(main())
