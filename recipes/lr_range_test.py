"""Learning-rate range test (Smith 2017): write the loss-vs-LR curve and the suggestions.

    python recipes/lr_range_test.py --dataset digits --model mlp --out runs/lr_range_test

The rate grows at every batch from --min-lr to --max-lr; the script writes lr_find.csv and
lr_find.png to --out and prints the suggested rate (valley, steepest and minimum/10 rules).
The model and optimizer are left exactly as they were.
"""

import argparse
import sys

from keras_recipes.cli import main


def parse(argv=None) -> list[str]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits", help="data set name or .npz/.csv path")
    p.add_argument("--target", default=None, help="target column of a .csv data set")
    p.add_argument("--model", default="mlp", help="mlp or cnn")
    p.add_argument("--out", default="runs/lr_range_test", help="folder for the CSV and PNG")
    p.add_argument("--optimizer", default="adam", help="adam or sgd")
    p.add_argument("--min-lr", default="1e-7")
    p.add_argument("--max-lr", default="10")
    p.add_argument("--num-steps", default="100")
    p.add_argument("--rule", default="valley", help="valley, steepest or minimum")
    args = p.parse_args(argv)
    command = ["lr-find", "--dataset", args.dataset, "--model", args.model, "--out", args.out,
               "--optimizer", args.optimizer, "--min-lr", args.min_lr, "--max-lr",
               args.max_lr, "--num-steps", args.num_steps, "--rule", args.rule]
    if args.target:
        command += ["--target", args.target]
    return command


if __name__ == "__main__":
    sys.exit(main(parse()))
