"""Run seed 004's seven-step practical approach and write its report.

    python recipes/practical.py --dataset digits --model mlp --out runs/practical

1. check the initial loss against ln C; 2. overfit a small sample; 3. find a learning rate
that makes the loss fall within 100 iterations; 4. a small KerasTuner grid over learning rate
and weight decay; 5. train the best configurations longer; 6. read the learning curves with
the training doctor; 7. loop back to 5 when the curves ask for it. Exit code: 0 when every
step passed, 1 when a check failed, 2 for bad input.
"""

import argparse
import sys

from keras_recipes.cli import main


def parse(argv=None) -> list[str]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits", help="data set name or .npz/.csv path")
    p.add_argument("--target", default=None, help="target column of a .csv data set")
    p.add_argument("--model", default="mlp", help="mlp or cnn")
    p.add_argument("--out", default="runs/practical", help="run folder")
    p.add_argument("--optimizer", default="adam", help="adam, adamw, sgd or rmsprop")
    p.add_argument("--grid-epochs", default="2", help="epochs per grid trial (1 to 5)")
    p.add_argument("--train-epochs", default="15", help="epochs of step 5 (10 to 20)")
    p.add_argument("--top-k", default="2", help="configurations trained longer")
    p.add_argument("--seed", default="0")
    args = p.parse_args(argv)
    command = ["practical", "--dataset", args.dataset, "--model", args.model,
               "--out", args.out, "--optimizer", args.optimizer,
               "--grid-epochs", args.grid_epochs, "--train-epochs", args.train_epochs,
               "--top-k", args.top_k, "--seed", args.seed]
    if args.target:
        command += ["--target", args.target]
    return command


if __name__ == "__main__":
    sys.exit(main(parse()))
