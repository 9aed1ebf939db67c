"""The training doctor on public Keras example scripts it was not tuned on.

Each script of ``benchmarks/real_scripts`` (a public example ported to offline data; see
that folder's ``panel.py``) is run with seed 0, unchanged except for a
:class:`~keras_recipes.diagnostics.DiagnosticLogger` added to ``fit``'s callbacks, and read
with :func:`~keras_recipes.diagnostics.diagnose`. The logger keeps its defaults; it gets
the training rows that ``fit`` trains on (``data``), the rows that ``validation_split``
holds out (``validation_data``: the last fraction, as Keras takes them) and the test set
(``test_data``).

* **Healthy runs**: the ten scripts as published. A WARNING or ERROR there is a false alarm
  unless the run's own numbers justify it (the ``verdict`` column says which, by hand).
* **Faulty runs**: six scripts, each with one planted fault of a different class, and the
  finding codes that count as naming it:

  ======================================  ===============================================
  fault (script)                          planted cause
  ======================================  ===============================================
  learning rate × 1000                    ``exploding_loss``, ``nonfinite_loss``,
  (keras_guide_training_mlp)              ``update_ratio_high``, ``oscillating_loss``
  training labels shuffled                ``chance_level``
  (keras_guide_functional_api)
  inputs left at 0-255, no scaling        ``inputs_not_normalised``, ``initial_loss``
  (dlwp_mnist: an MLP, no normalisation)
  softmax output, ``from_logits=True``    ``output_loss_mismatch``
  (keras_mnist_mlp)
  8 more sigmoid Dense layers, every      ``vanishing_gradients``
  activation sigmoid
  (keras_tuner_getting_started)
  learning rate 0 (dlwp_boston_housing)   ``flat_loss``, ``update_ratio_low``
  ======================================  ===============================================

Each script runs in a fresh process (its healthy run, then its faulty run). Writes
``benchmarks/results/doctor_real_scripts.json`` (merged per script, with date and machine)
and prints a Markdown table. Run:
``KERAS_BACKEND=tensorflow .venv/bin/python benchmarks/doctor_real_scripts.py`` (all
scripts), ``--scripts dlwp_mnist,keras_mnist_mlp`` for some; ``--cache DIR`` keeps each
run's frame and summary, ``--rediagnose DIR`` diagnoses them again without training.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import os
import pathlib
import platform
import subprocess
import sys
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS_DIR = ROOT / "benchmarks" / "real_scripts"
RESULT = ROOT / "benchmarks" / "results" / "doctor_real_scripts.json"
SCRIPTS = sorted(p.stem for p in SCRIPTS_DIR.glob("*.py") if p.stem not in ("panel", "_data"))
SEED = 0

#: script -> (fault name, what was changed, finding codes that name the planted cause)
FAULTS = {
    "keras_guide_training_mlp": (
        "lr_x1000", "learning rate × 1000 (RMSprop 1.0)",
        ("exploding_loss", "nonfinite_loss", "update_ratio_high", "oscillating_loss")),
    "keras_guide_functional_api": (
        "shuffled_labels", "training labels permuted", ("chance_level",)),
    "dlwp_mnist": (
        "inputs_x255", "pixels left at 0-255 (no /255), MLP without normalisation",
        ("inputs_not_normalised", "initial_loss")),
    "keras_mnist_mlp": (
        "softmax_from_logits", "softmax output with CategoricalCrossentropy(from_logits=True) "
        "(TensorFlow takes the logits under the softmax: trains as unchanged; JAX and "
        "PyTorch apply softmax twice)",
        ("output_loss_mismatch",)),
    "keras_tuner_getting_started": (
        "deep_sigmoid", "every activation sigmoid, 8 more Dense(32, sigmoid) layers",
        ("vanishing_gradients",)),
    "dlwp_boston_housing": (
        "lr_zero", "learning rate 0", ("flat_loss", "update_ratio_low")),
}


#: Warnings on unchanged scripts that the run's own numbers justify, judged by hand from
#: the curves and, for "stopped too early", from the same script trained for 12 epochs
#: (seed 0, no logger): script -> (the warning codes, why).
JUSTIFIED = {
    "keras_mnist_cnn": (("flat_loss", "update_ratio_low"),
                        "Adadelta at Keras 3's default rate 0.001 (Keras 2's was 1.0): the "
                        "loss is 0.99 ln 10 after 12 epochs, test accuracy 0.27"),
    "keras_guide_training_mlp": (("underfitting",),
                                 "2 epochs on 3600 digits, val loss −23 % in the last one; "
                                 "12 epochs: test accuracy 0.926 instead of 0.853"),
    "keras_guide_functional_api": (("underfitting",),
                                   "2 epochs on 3200 digits, val loss −30 % in the last one; "
                                   "12 epochs: test accuracy 0.917 instead of 0.885"),
    "keras_tuner_getting_started": (("underfitting",),
                                    "Adam 1e-4 for 2 epochs, loss 0.77 ln 10; 12 epochs: "
                                    "test accuracy 0.866 instead of 0.646"),
}


# ------------------------------------------------------------------------------ variants
def _with_lr(opt, factor):
    config = opt.get_config()
    config["learning_rate"] = float(config["learning_rate"]) * factor
    return type(opt).from_config(config)


def variant(script, fault: str | None):
    """``(data, model, optimizer, compile_kwargs)`` of the script, with ``fault`` planted."""
    import keras
    import numpy as np

    (x, y), test = script.data()
    model_fn, opt_fn, compile_fn = script.model, script.optimizer, script.compile_kwargs
    if fault == "lr_x1000":
        opt_fn = lambda: _with_lr(script.optimizer(), 1000.0)  # noqa: E731
    elif fault == "lr_zero":
        opt_fn = lambda: _with_lr(script.optimizer(), 0.0)  # noqa: E731
    elif fault == "shuffled_labels":
        y = np.random.default_rng(1).permutation(y)
    elif fault == "inputs_x255":
        x, test = x * 255.0, (test[0] * 255.0, test[1])
    elif fault == "softmax_from_logits":
        def compile_fn():
            kw = script.compile_kwargs()
            kw["loss"] = keras.losses.CategoricalCrossentropy(from_logits=True)
            return kw
    elif fault == "deep_sigmoid":
        def model_fn():
            layers = [keras.layers.Flatten(), keras.layers.Dense(32, activation="sigmoid")]
            layers += [keras.layers.Dense(32, activation="sigmoid") for _ in range(8)]
            return keras.Sequential(layers + [keras.layers.Dense(10, activation="softmax")])
    elif fault is not None:
        raise ValueError(f"unknown fault {fault!r}")
    return ((x, y), test), model_fn, opt_fn, compile_fn


def _split(x, y, fit: dict):
    """The rows ``fit`` trains on and those its ``validation_split`` holds out."""
    split = fit.get("validation_split", 0.0)
    if not split:
        return (x, y), None
    at = int(math.floor(len(x) * (1.0 - split)))  # as keras.fit slices
    return (x[:at], y[:at]), (x[at:], y[at:])



def run_one(script, fault: str | None, cache: str | None) -> dict:
    """Train one variant with the logger, diagnose it, keep its curves."""
    import keras
    from _common import jsonable

    from keras_recipes.diagnostics import DiagnosticLogger, diagnose

    ((x, y), (x_test, y_test)), model_fn, opt_fn, compile_fn = variant(script, fault)
    train, val = _split(x, y, script.FIT)
    keras.utils.clear_session()
    keras.utils.set_random_seed(SEED)
    model = model_fn()
    model.compile(optimizer=opt_fn(), **compile_fn())
    logger = DiagnosticLogger(data=train, validation_data=val, test_data=(x_test, y_test))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(x, y, batch_size=script.BATCH_SIZE, epochs=script.EPOCHS,
                            verbose=0, callbacks=[logger], **script.FIT)
        seconds = time.perf_counter() - start
        score = model.evaluate(x_test, y_test, batch_size=256, verbose=0,
                               return_dict=True)[script.SCORE]
    findings = diagnose(logger)
    name = f"{script.__name__}__{fault or 'healthy'}"
    if cache:
        os.makedirs(cache, exist_ok=True)
        logger.frame.to_csv(os.path.join(cache, f"{name}.csv"), index=False)
        with open(os.path.join(cache, f"{name}.json"), "w", encoding="utf-8") as fh:
            json.dump(jsonable(logger.summary), fh)
    curves = {k: [round(float(v), 5) for v in vals] for k, vals in history.history.items()}
    return {"seconds": round(seconds, 1), "test_score": float(score), "curves": curves,
            "findings": [{"severity": f.severity, "code": f.code, "text": str(f)}
                         for f in findings]}


def run_script(name: str, cache: str | None) -> dict:
    sys.path.insert(0, str(SCRIPTS_DIR))
    script = importlib.import_module(name)
    out = {"source": script.SOURCE, "score": script.SCORE, "epochs": script.EPOCHS,
           "batch_size": script.BATCH_SIZE, "healthy": run_one(script, None, cache)}
    if name in FAULTS:
        fault, what, cause = FAULTS[name]
        out["fault"] = {"name": fault, "what": what, "cause": list(cause),
                        **run_one(script, fault, cache)}
    return out


# ----------------------------------------------------------------------------- judging
def rediagnose(result: dict, name: str, folder: str) -> None:
    """Replace the findings of ``result`` by a new reading of the cached logs."""
    import pandas as pd

    from keras_recipes.diagnostics import diagnose
    from keras_recipes.diagnostics.run_record import as_record

    for key, fault in (("healthy", None), ("fault", result.get("fault", {}).get("name"))):
        if key not in result:
            continue
        stem = os.path.join(folder, f"{name}__{fault or 'healthy'}")
        record = as_record(pd.read_csv(stem + ".csv"))
        with open(stem + ".json", encoding="utf-8") as fh:
            record.summary.update(json.load(fh))
        result[key]["findings"] = [{"severity": f.severity, "code": f.code, "text": str(f)}
                                   for f in diagnose(record)]


def _codes(run: dict, severities) -> list[str]:
    return sorted({f["code"] for f in run["findings"] if f["severity"] in severities})


def judge(result: dict, name: str) -> None:
    h = result["healthy"]
    h["warnings"] = _codes(h, ("error", "warning"))
    h["notes"] = _codes(h, ("info",))
    if h["warnings"]:
        codes, why = JUSTIFIED.get(name, ((), ""))
        h["verdict"] = f"justified: {why}" if tuple(h["warnings"]) == codes else "false alarm"
    else:
        h["verdict"] = "ok"
    if "fault" in result:
        f = result["fault"]
        f["warnings"] = _codes(f, ("error", "warning"))
        f["notes"] = _codes(f, ("info",))
        f["detected"] = bool(f["warnings"])
        f["named"] = bool(set(f["warnings"]) & set(f["cause"]))


def _fmt(codes):
    return ", ".join(f"`{c}`" for c in codes) or "—"


def tables(results: dict) -> str:
    lines = ["| script | test score | warnings / errors | notes | verdict |",
             "|---|---|---|---|---|"]
    for name, r in sorted(results.items()):
        h = r["healthy"]
        verdict = "**false alarm**" if h["verdict"] == "false alarm" else h["verdict"]
        lines.append(f"| {name} | {r['score']} {h['test_score']:.4g} | "
                     f"{_fmt(h['warnings'])} | {_fmt(h['notes'])} | {verdict} |")
    lines += ["", "| script | planted fault | cause codes | warnings / errors | verdict |",
              "|---|---|---|---|---|"]
    for name, r in sorted(results.items()):
        if "fault" not in r:
            continue
        f = r["fault"]
        verdict = "named" if f["named"] else ("detected" if f["detected"] else "**missed**")
        lines.append(f"| {name} | {f['what']} | {_fmt(f['cause'])} | {_fmt(f['warnings'])} "
                     f"| {verdict} |")
    return "\n".join(lines)


def totals(results: dict) -> dict:
    faulty = [r["fault"] for r in results.values() if "fault" in r]
    return {"healthy_runs": len(results),
            "healthy_with_warning": sum(bool(r["healthy"]["warnings"])
                                        for r in results.values()),
            "healthy_false_alarms": sum(r["healthy"]["verdict"] == "false alarm"
                                        for r in results.values()),
            "faulty_runs": len(faulty), "faulty_detected": sum(f["detected"] for f in faulty),
            "faulty_named": sum(f["named"] for f in faulty)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", default=",".join(SCRIPTS))
    parser.add_argument("--cache", default=None, help="keep each run's frame and summary")
    parser.add_argument("--rediagnose", default=None,
                        help="diagnose the runs kept in this folder, without training")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one script, in this process
    parser.add_argument("--out", default=str(RESULT))
    args = parser.parse_args(argv)
    if args.one:
        print("RESULT " + json.dumps(run_script(args.one, args.cache)), flush=True)
        return 0
    out = pathlib.Path(args.out)
    record = json.loads(out.read_text()) if out.exists() else {"scripts": {}}
    for name in args.scripts.split(","):
        if args.rediagnose:
            sys.path.insert(0, str(ROOT))
            rediagnose(record["scripts"][name], name, args.rediagnose)
            if name in FAULTS:
                record["scripts"][name]["fault"]["what"] = FAULTS[name][1]
            judge(record["scripts"][name], name)
            continue
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        env.setdefault("KERAS_BACKEND", "tensorflow")
        command = [sys.executable, __file__, "--one", name]
        if args.cache:
            command += ["--cache", args.cache]
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            print(f"{name}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        result = json.loads(lines[-1][len("RESULT "):])
        judge(result, name)
        record["scripts"][name] = result
        print(f"{name} ({time.perf_counter() - start:.0f} s): healthy W/E="
              f"{result['healthy']['warnings']} i={result['healthy']['notes']}"
              + (f"; {result['fault']['name']} W/E={result['fault']['warnings']}"
                 if "fault" in result else ""), flush=True)
        record.update(date=datetime.date.today().isoformat(), machine=(
            f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}"),
            backend=env["KERAS_BACKEND"], seed=SEED)
    record["totals"] = totals(record["scripts"])
    record["table_markdown"] = tables(record["scripts"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(record["table_markdown"])
    print(record["totals"])
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
