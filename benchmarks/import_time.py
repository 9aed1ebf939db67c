"""Import time of keras_recipes, each statement in a fresh interpreter: median of repeats.

Measures ``import keras_recipes``, the time until the library is usable
(``import keras_recipes, keras``: Keras imported and every class registered) and
``keras-recipes --help``. With ``--before DIR`` (a checkout of another version's sources, e.g.
``git archive REV keras_recipes | tar -x -C DIR``) each statement is also timed on that tree,
interleaved with this one (alternating which goes first) so that a machine's changing load
falls on both alike. Writes ``benchmarks/results/import_time.json``.

Usage: ``python benchmarks/import_time.py [--repeats 3] [--before DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
STATEMENTS = {
    "import keras_recipes": "import keras_recipes",
    "import keras_recipes, keras (library ready)":
        "import keras_recipes, keras; keras.saving.get_custom_objects()",
    # As the console script runs it (the command defers Keras until a command runs).
    "keras-recipes --help":
        "KERAS_RECIPES_COMMAND_LINE = True\nfrom keras_recipes.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass",
}
TEMPLATE = ("import contextlib, io, time\nt = time.perf_counter()\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n{body}\n"
            "print('seconds', time.perf_counter() - t)\n")


def seconds(tree: pathlib.Path, statement: str) -> float:
    body = "\n".join("    " + line for line in statement.splitlines())
    env = dict(os.environ, PYTHONPATH=str(tree), TF_CPP_MIN_LOG_LEVEL="3")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    proc = subprocess.run([sys.executable, "-c", TEMPLATE.format(body=body)], env=env,
                          cwd=tree.anchor, capture_output=True, text=True, check=True)
    return float(proc.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", type=pathlib.Path, default=None)
    args = parser.parse_args()
    trees = {"this tree": ROOT} | ({"before": args.before} if args.before else {})
    runs = {f"{label} | {name}": [] for name in STATEMENTS for label in trees}
    for repeat in range(args.repeats):
        for name, statement in STATEMENTS.items():
            labels = list(trees) if repeat % 2 == 0 else list(trees)[::-1]
            for label in labels:
                runs[f"{label} | {name}"].append(seconds(trees[label], statement))
    result = {key: {"median_s": round(statistics.median(v), 3), "runs_s": [round(x, 3) for x in v]}
              for key, v in runs.items()}
    out = ROOT / "benchmarks" / "results" / "import_time.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
