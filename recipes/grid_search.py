"""Grid or random search over learning rate and weight decay, with the seeds' spaces.

    python recipes/grid_search.py --dataset digits --model mlp --epochs 3
    python recipes/grid_search.py --random --trials 10 --out runs/random.csv

The grid is seed 000's: ε ∈ {0.1, 0.01, 0.001} × λ ∈ {1e-3, 5e-4, 1e-4}; the random search
draws ε = 10^U(-3, -1) and λ = 10^U(-4, -3). Every trial starts from the same initial
weights; a trial that diverges is recorded as failed. The trials are printed best first
and written to --out as CSV.
"""

import argparse
import os
import sys


def _positive_int(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="digits", help="data set name or .npz/.csv path")
    p.add_argument("--target", default=None, help="target column of a .csv data set")
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw", "rmsprop"), default="sgd",
                   help="sgd = SGD + Nesterov momentum 0.9 (default)")
    p.add_argument("--epochs", type=_positive_int, default=3, help="epochs per trial")
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--random", action="store_true", help="random search instead of the grid")
    p.add_argument("--hyperband", action="store_true",
                   help="Hyperband over the random space, up to --epochs epochs per trial")
    p.add_argument("--trials", type=_positive_int, default=10, help="random-search trials")
    p.add_argument("--objective", default="val_accuracy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/search.csv", help="CSV of the trials")
    args = p.parse_args(argv)
    if os.path.isdir(args.out):
        p.error(f"--out must be a CSV file path, but {args.out!r} is a folder")
    return args


def run(args: argparse.Namespace) -> int:
    from keras_recipes.data import load_dataset, split
    from keras_recipes.tuning import grid_search, random_search

    try:
        ds = load_dataset(args.dataset, seed=args.seed, target=args.target,
                          flatten=args.model == "mlp")
    except ValueError as exc:
        print(f"grid_search: error: {exc}", file=sys.stderr)
        return 2
    train, val, test = split(ds.x, ds.y, seed=args.seed)
    common = dict(validation_data=val, epochs=args.epochs, batch_size=args.batch_size,
                  optimizer=args.optimizer, objective=args.objective, seed=args.seed,
                  verbose=0)
    if args.random or args.hyperband:
        frame = random_search(args.model, *train, max_trials=args.trials,
                              algorithm="hyperband" if args.hyperband else "random", **common)
    else:
        frame = grid_search(args.model, *train, **common)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    frame.to_csv(args.out, index=False)
    columns = [c for c in frame.columns if c not in ("message", "best_step")]
    print(frame[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"{len(frame)} trials, {int(frame['diverged'].sum())} diverged; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run(parse()))
