"""Run the three-stage steamroller and write its report.

    python recipes/steamroller.py --dataset digits --model mlp --out runs/steamroller

Stage 1 overfits a few examples of a few classes, stage 2 generalises on all the data of
those classes, stage 3 trains on everything with a one-cycle schedule. Each stage runs the
learning-rate finder, trains with the diagnostic logger and checks its gate; a failed gate
stops the run and prints the training doctor's findings. A rerun with the same ``--out``
resumes where the last one stopped. Exit code: 0 when every gate passed, 1 when one failed,
2 for bad input.
"""

import argparse
import sys

from keras_recipes.cli import main


def parse(argv=None) -> list[str]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits", help="data set name or .npz/.csv path")
    p.add_argument("--target", default=None, help="target column of a .csv data set")
    p.add_argument("--model", default="mlp", help="mlp or cnn")
    p.add_argument("--out", default="runs/steamroller", help="run folder")
    p.add_argument("--stage-classes", default="2", help="a number, or labels such as 3,8")
    p.add_argument("--stage1-per-class", default="10")
    p.add_argument("--seed", default="0")
    p.add_argument("--fresh", action="store_true", help="start afresh instead of resuming")
    args = p.parse_args(argv)
    command = ["steamroller", "--dataset", args.dataset, "--model", args.model,
               "--out", args.out, "--stage-classes", args.stage_classes,
               "--stage1-per-class", args.stage1_per_class, "--seed", args.seed]
    if args.target:
        command += ["--target", args.target]
    if args.fresh:
        command.append("--fresh")
    return command


if __name__ == "__main__":
    sys.exit(main(parse()))
