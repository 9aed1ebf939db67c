"""Train a tiny digits classifier and write the analysis figures of docs/analysis.md.

Writes ``docs/img/analysis_worst_examples.png`` (the worst-loss test examples),
``docs/img/analysis_confusion.md`` (the confusion table and the most confused pairs) and
``benchmarks/results/analysis_figures.json`` (accuracies and the snapshot-ensemble table).

Run: ``.venv/bin/python benchmarks/analysis_figures.py``
"""

from __future__ import annotations

import json
import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import keras  # noqa: E402

from keras_recipes.analysis import ErrorAnalysis, check_data  # noqa: E402
from keras_recipes.callbacks import SnapshotEnsemble  # noqa: E402
from keras_recipes.data import load_dataset, split  # noqa: E402
from keras_recipes.ensembles import evaluate_ensemble  # noqa: E402
from keras_recipes.models import baseline_mlp  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMG = ROOT / "docs" / "img"
RESULTS = ROOT / "benchmarks" / "results"


def markdown(frame, index: bool = True) -> str:
    """A Markdown table of a DataFrame (pandas' to_markdown needs tabulate)."""
    cols = ([frame.index.name or ""] if index else []) + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for key, row in frame.astype(object).iterrows():
        cells = ([str(key)] if index else []) + [str(v) for v in row.tolist()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    keras.utils.set_random_seed(0)
    ds = load_dataset("digits", flatten=True)
    train, val, test = split(ds.x, ds.y)
    report = check_data(*train, *val, *test, num_classes=10)

    steps_per_epoch = -(-len(train[0]) // 32)
    lr = keras.optimizers.schedules.CosineDecayRestarts(
        0.05, first_decay_steps=3 * steps_per_epoch, t_mul=1.0
    )
    snap = SnapshotEnsemble(schedule=lr)
    model = baseline_mlp(64, 10, hidden=(32,))
    model.compile(keras.optimizers.SGD(lr, momentum=0.9), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(*train, validation_data=val, epochs=15, batch_size=32, callbacks=[snap],
              verbose=0)

    ea = ErrorAnalysis(model, *test, class_names=ds.class_names)
    IMG.mkdir(parents=True, exist_ok=True)
    fig = ea.plot_examples("worst", n=12, ncols=6, image_shape=(8, 8))
    fig.savefig(IMG / "analysis_worst_examples.png", dpi=110)

    confusion = ea.confusion_matrix()
    confused = ea.most_confused(min_count=2)
    per_class = ea.per_class().round(3)
    (IMG / "analysis_confusion.md").write_text(
        "Confusion matrix (rows: true class, columns: predicted), digits test split:\n\n"
        + markdown(confusion) + "\n\nMost confused pairs (count >= 2):\n\n"
        + markdown(confused, index=False) + "\n\nPer-class scores:\n\n"
        + markdown(per_class) + "\n"
    )

    members = [layer for layer in snap.ensemble(last=3).layers if isinstance(layer, keras.Model)]
    table = evaluate_ensemble(members, *test).round(4)
    print(f"data check: {'ok' if report.ok else report.problems}")
    print(f"test accuracy {ea.accuracy:.4f}, mean loss {ea.mean_loss:.4f}")
    print(markdown(confusion))
    print(markdown(table))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "analysis_figures.json").write_text(json.dumps({
        "backend": keras.backend.backend(),
        "test_accuracy": ea.accuracy,
        "test_mean_loss": ea.mean_loss,
        "data_check_problems": report.problems,
        "snapshot_steps": snap.snapshot_steps,
        "snapshot_ensemble": table.to_dict(orient="index"),
    }, indent=2))


if __name__ == "__main__":
    main()
