"""Grid or random search over learning rate and weight decay, with the seeds' spaces.

    python recipes/grid_search.py --dataset digits --model mlp --epochs 3
    python recipes/grid_search.py --random --trials 10 --out runs/random.csv

The grid is seed 000's: ε ∈ {0.1, 0.01, 0.001} × λ ∈ {1e-3, 5e-4, 1e-4}; the random search
draws ε = 10^U(-3, -1) and λ = 10^U(-4, -3). Every trial starts from the same initial
weights; a trial that diverges is recorded as failed. The trials are printed best first
and written to --out as CSV. Exit code: 0 when the search ran, 2 for bad input.
"""

import argparse
import sys

# Bad input is refused before Keras is imported (see keras_recipes/__init__.py).
KERAS_RECIPES_COMMAND_LINE = True

from keras_recipes import cli  # noqa: E402 - after the switch above

PROG = "grid_search"


def parse(argv=None) -> argparse.Namespace:
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_data_model_args(p)
    p.add_argument("--optimizer", choices=("sgd", "adam", "adamw", "rmsprop"), default="sgd",
                   help="sgd = SGD + Nesterov momentum 0.9 (default)")
    p.add_argument("--epochs", type=cli.positive_int, default=3, help="epochs per trial")
    p.add_argument("--batch-size", type=cli.positive_int, default=32)
    p.add_argument("--random", action="store_true", help="random search instead of the grid")
    p.add_argument("--hyperband", action="store_true",
                   help="Hyperband over the random space, up to --epochs epochs per trial")
    p.add_argument("--trials", type=cli.positive_int, default=10, help="random-search trials")
    p.add_argument("--objective", default="val_accuracy")
    p.add_argument("--out", default="runs/search.csv", help="CSV of the trials")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    cli.check_csv_out(args.out, "--out")
    ds = cli.load_for_cli(args, classes=False)  # a regression set searches on val_loss
    from keras_recipes.data import split
    from keras_recipes.tuning import grid_search, random_search
    from keras_recipes.workflows.common import atomic_write

    train, val, _ = split(ds.x, ds.y, seed=args.seed)
    common = dict(validation_data=val, epochs=args.epochs, batch_size=args.batch_size,
                  optimizer=args.optimizer, objective=args.objective, seed=args.seed,
                  verbose=0)
    with cli.usage_errors(ValueError):  # the search checks its arguments before any trial
        if args.random or args.hyperband:
            frame = random_search(args.model, *train, max_trials=args.trials,
                                  algorithm="hyperband" if args.hyperband else "random",
                                  **common)
        else:
            frame = grid_search(args.model, *train, **common)
    atomic_write(args.out, lambda tmp: frame.to_csv(tmp, index=False))
    columns = [c for c in frame.columns if c not in ("message", "best_step")]
    print(frame[columns].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"{len(frame)} trials, {int(frame['diverged'].sum())} diverged; written to {args.out}")
    return 0


def main(argv=None) -> int:
    return cli.run_guarded(lambda: run(parse(argv)), prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
