"""The Watchdog on the doctor panel: faulty runs stopped early, healthy runs left alone, cost.

Every run of ``benchmarks/doctor_panel.py`` (its builders, imported) trains once with a
:class:`~keras_recipes.callbacks.Watchdog` (default arguments, ``data=`` the training split)
and nothing else. Measured:

* **faulty runs**: the fraction stopped, stopped within the first epoch (stop step at most
  one epoch of steps; step 0 is the probe before training), the median stop step, whether
  the stopping code is one of the run's planted causes (or a code of the same symptom,
  :data:`SYMPTOMS`), and the training compute saved: the fraction of the planned steps
  (epochs × steps per epoch) not run, averaged over faulty runs (0 for a run not stopped);
* **healthy runs stopped** (goal 0), and the non-fatal findings they got;
* **per-epoch cost** against plain ``fit``: the same model trained in the same process,
  alternately without and with the watchdog, ``--repeats`` rounds; each round times epochs
  2.. of a 4-epoch ``fit`` (steady state: the probe at train begin and its tracing fall
  outside), wall and CPU time (``time.process_time``); the ratio is the median over
  rounds of median epoch time with / without.

The repair figure of issue 23 (faulty workflow runs that ``repair=True`` brings to a
passed gate) is not measured here; the JSON keeps a ``repair`` entry for it.

Run: ``KERAS_BACKEND=tensorflow python benchmarks/watchdog.py`` (writes
``benchmarks/results/watchdog.json`` for a full run; ``--only NAME ...`` runs some panel
runs only and writes nothing; ``--skip-panel`` / ``--skip-cost`` leave a part out).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import doctor_panel as panel  # noqa: E402
import keras  # noqa: E402
from _common import EpochTimer  # noqa: E402

from keras_recipes.callbacks import Watchdog  # noqa: E402
from keras_recipes.callbacks.watchdog import CODES  # noqa: E402

RESULT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "watchdog.json")

#: Codes that name the same symptom as a doctor code of a planted cause (the watchdog
#: reports a forward pass that is not finite before the loss becomes NaN, and the
#: accuracy's symptom where the doctor reads the final accuracy).
SYMPTOMS = {
    "nonfinite_loss": {"nonfinite_activations", "nonfinite_gradients"},
    "exploding_loss": {"nonfinite_loss", "nonfinite_activations"},
    "chance_level": {"accuracy_not_increasing", "flat_loss"},
    "flat_loss": {"update_ratio_low", "accuracy_not_increasing"},
    "update_ratio_low": {"flat_loss"},
    "underfitting": {"flat_loss"},
    "initial_loss": {"exploding_loss", "nonfinite_activations", "nonfinite_loss"},
    "inputs_not_normalised": {"nonfinite_loss", "nonfinite_activations", "saturated_units"},
    "exploding_gradients": {"nonfinite_activations", "nonfinite_loss", "exploding_loss"},
    "symmetric_units": {"dead_units", "flat_loss", "update_ratio_low"},
}


#: Planted causes that the watchdog's rules look for (its codes, plus the doctor's slow
#: convergence and chance level, read in training as a flat loss and an accuracy that does
#: not increase). Faults outside (output/loss pairing, split overlap, overfitting, BatchNorm
#: statistics, initial loss, input scale, symmetric units) need a finished run or facts
#: the watchdog does not read; they count in the "all faulty runs" figures only.
IN_SCOPE = set(CODES) | {"underfitting", "chance_level"}


def in_scope(run: panel.Run) -> bool:
    return bool(set(run.cause) & IN_SCOPE)


def named(run: panel.Run, code: str | None) -> bool:
    """Whether ``code`` names one of the run's planted causes (or the same symptom)."""
    if code is None:
        return False
    allowed = set(run.cause)
    for cause in run.cause:
        allowed |= SYMPTOMS.get(cause, set())
    return code in allowed


def train(run: panel.Run, task: tuple) -> dict:
    model, tr, va = panel.compiled(run, task)
    watchdog = Watchdog(data=tr, verbose=0)
    steps_per_epoch = -(-len(tr[0]) // run.batch_size)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(*tr, validation_data=va, epochs=run.epochs, batch_size=run.batch_size,
                  verbose=0, callbacks=[watchdog])
    seconds = time.perf_counter() - start
    ran = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    planned = run.epochs * steps_per_epoch
    stop = watchdog.stop_reason
    out = {
        "kind": "healthy" if run.healthy else "faulty", "task": run.task, "note": run.note,
        "cause": sorted(run.cause), "epochs": run.epochs, "steps_per_epoch": steps_per_epoch,
        "planned_steps": planned, "steps_run": ran, "seconds": round(seconds, 2),
        "stopped": stop is not None,
        "stop_code": None if stop is None else stop.code,
        "stop_step": None if stop is None else stop.step,
        "stop_layer": None if stop is None else stop.layer,
        "first_epoch": stop is not None and stop.step <= steps_per_epoch,
        "saved_fraction": max(0.0, 1.0 - ran / planned) if stop is not None else 0.0,
        "events": [e.one_line() for e in watchdog.events],
        "codes": [e.code for e in watchdog.events],
    }
    if not run.healthy:
        out["named"] = named(run, out["stop_code"])
        out["in_scope"] = in_scope(run)
    return out


def totals(results: dict) -> dict:
    healthy = [r for r in results.values() if r["kind"] == "healthy"]
    faulty = [r for r in results.values() if r["kind"] == "faulty"]
    scoped = {name: r for name, r in results.items()
              if r["kind"] == "healthy" or r.get("in_scope")}
    out = {
        "healthy_runs": len(healthy),
        "healthy_stopped": sum(r["stopped"] for r in healthy),
        "healthy_with_a_finding": sum(bool(r["codes"]) for r in healthy),
        "all_faulty": _faulty_totals(faulty),
        "in_scope_faulty": _faulty_totals([r for r in scoped.values()
                                           if r["kind"] == "faulty"]),
    }
    return out


def _faulty_totals(faulty: list) -> dict:
    stopped = [r for r in faulty if r["stopped"]]
    return {
        "faulty_runs": len(faulty),
        "faulty_stopped": len(stopped),
        "faulty_stopped_first_epoch": sum(r["first_epoch"] for r in faulty),
        "first_epoch_fraction": sum(r["first_epoch"] for r in faulty) / max(1, len(faulty)),
        "stopped_fraction": len(stopped) / max(1, len(faulty)),
        "stop_names_planted_cause": sum(r["named"] for r in faulty),
        "median_stop_step": (statistics.median(r["stop_step"] for r in stopped)
                             if stopped else None),
        "median_stop_fraction_of_first_epoch": (statistics.median(
            r["stop_step"] / r["steps_per_epoch"] for r in stopped) if stopped else None),
        "compute_saved_mean": (sum(r["saved_fraction"] for r in faulty) / len(faulty)
                               if faulty else None),
    }


def table(results: dict) -> str:
    lines = ["| run | kind | planted cause | stopped by | step (steps/epoch) | layer | "
             "compute saved | other findings |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if r["kind"] == "healthy":
            verdict = "**stopped**" if r["stopped"] else "not stopped"
        else:
            verdict = ("named" if r["named"] else "stopped") if r["stopped"] else "**missed**"
        cause = ", ".join(f"`{c}`" for c in r["cause"]) or "—"
        code = f"`{r['stop_code']}`" if r["stop_code"] else "—"
        step = f"{r['stop_step']} ({r['steps_per_epoch']})" if r["stopped"] else \
            f"— ({r['steps_per_epoch']})"
        others = ", ".join(f"`{c}`" for c in r["codes"] if c != r["stop_code"]) or "—"
        kind = r["kind"] if r["kind"] == "healthy" else (
            "faulty" if r["in_scope"] else "faulty, out of scope")
        lines.append(f"| {name} | {kind}: {verdict} | {cause} | {code} | {step} | "
                     f"{r['stop_layer'] or '—'} | {100 * r['saved_fraction']:.0f} % | "
                     f"{others} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- cost
def _cost_models(tasks):
    (x, y), _, _ = tasks["digits"]
    return {
        "digits MLP 64-64, batch 32 (38 steps/epoch)": (
            lambda: panel.mlp(64, 10, widths=(64, 64)), x, y, 32),
        "digits MLP 256×3, batch 64 (19 steps/epoch)": (
            lambda: panel.mlp(64, 10, widths=(256,) * 3), x, y, 64),
        "digits baseline CNN, batch 32 (38 steps/epoch)": (
            lambda: panel.baseline_cnn((8, 8, 1), 10, filters=(16, 32)),
            x.reshape(-1, 8, 8, 1), y, 32),
    }


def cost(tasks, repeats: int, epochs: int = 4) -> dict:
    out = {}
    for name, (build, x, y, batch) in _cost_models(tasks).items():
        keras.utils.set_random_seed(panel.SEED)
        model = build()
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, y, epochs=1, batch_size=batch, verbose=0)  # trace the train step
        wall, cpu, stops, probes = [], [], 0, []
        for _ in range(repeats):
            times = {}
            for mode in ("plain", "watchdog"):
                timer = EpochTimer()
                callbacks = [timer]
                if mode == "watchdog":
                    dog = Watchdog(data=(x, y), verbose=0)
                    callbacks.append(dog)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.fit(x, y, epochs=epochs, batch_size=batch, verbose=0,
                              callbacks=callbacks)
                times[mode] = (statistics.median(timer.times[1:]),
                               statistics.median(timer.cpu[1:]))
                if mode == "watchdog":
                    stops += dog.stop_reason is not None
                    probes.append(len(dog._records))
            wall.append(times["watchdog"][0] / times["plain"][0])
            cpu.append(times["watchdog"][1] / times["plain"][1])
        out[name] = {"wall_ratio": statistics.median(wall), "cpu_ratio": statistics.median(cpu),
                     "wall_ratios": wall, "cpu_ratios": cpu, "stopped": stops,
                     "probes_per_fit": probes, "epochs_per_fit": epochs}
        print(f"{name}: wall {out[name]['wall_ratio']:.3f}, cpu {out[name]['cpu_ratio']:.3f} "
              f"(probes per {epochs}-epoch fit {probes})", flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--skip-panel", action="store_true")
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=RESULT)
    args = parser.parse_args(argv)
    tasks = panel.load_tasks()
    runs = panel.healthy_runs() + panel.faulty_runs()
    if args.only:
        runs = [r for r in runs if r.name in args.only]
    results: dict[str, dict] = {}
    start = time.perf_counter()
    if not args.skip_panel:
        for run in runs:
            r = results[run.name] = train(run, tasks[run.task])
            print(f"{run.name:32s} {r['seconds']:6.1f}s stop={r['stop_code']}@{r['stop_step']}"
                  f"/{r['steps_per_epoch']} saved={r['saved_fraction']:.2f} "
                  f"codes={r['codes']}", flush=True)
    summary = totals(results) if results else {}
    md = table(results) if results else ""
    if md:
        print()
        print(md)
        print()
        print(json.dumps(summary, indent=1))
    costs = {} if args.skip_cost or args.only else cost(tasks, args.repeats)
    if not args.only:
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump({
                "date": datetime.date.today().isoformat(),
                "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                           f"{platform.system()} {platform.release()} (shared with other "
                           "jobs)",
                "python": platform.python_version(), "keras": keras.__version__,
                "backend": keras.backend.backend(),
                "seconds": round(time.perf_counter() - start, 1),
                "totals": summary, "cost": costs,
                "repair": {"faulty_workflow_runs_repaired_fraction": None,
                           "status": "not measured here: added with the workflows' "
                                     "repair=True (issue 23, part 2)"},
                "table_markdown": md, "runs": results,
            }, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
