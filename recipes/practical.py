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

# Bad input is refused before Keras is imported (see keras_recipes/__init__.py).
KERAS_RECIPES_COMMAND_LINE = True

from keras_recipes import cli  # noqa: E402 - after the switch above


def parse(argv=None) -> argparse.Namespace:
    p = cli.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_data_model_args(p, workflow=True)
    p.add_argument("--out", default="runs/practical", help="run folder")
    p.add_argument("--optimizer", choices=("adam", "adamw", "sgd", "rmsprop"), default="adam")
    p.add_argument("--grid-epochs", type=cli.positive_int, default=2,
                   help="epochs per grid trial (1 to 5)")
    p.add_argument("--train-epochs", type=cli.positive_int, default=15,
                   help="epochs of step 5 (10 to 20)")
    p.add_argument("--top-k", type=cli.positive_int, default=2,
                   help="configurations trained longer")
    p.add_argument("--max-loops", type=int, choices=range(0, 10), default=1, metavar="N",
                   help="extra rounds of step 5 when the curves ask for it (default: 1)")
    p.add_argument("--batch-size", type=cli.positive_int, default=32)
    p.add_argument("--fresh", action="store_true",
                   help="replace an earlier practical run in --out")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    cli.check_dir(args.out, "--out")
    ds = cli.load_for_cli(args)  # bad data answers with exit 2 before any training
    from keras_recipes.workflows.practical import practical
    from keras_recipes.workflows.run_folder import RunFolderError

    with cli.usage_errors(RunFolderError):
        report = practical(
            ds, args.model, out=args.out, seed=args.seed, optimizer=args.optimizer,
            grid_epochs=args.grid_epochs, top_k=args.top_k, train_epochs=args.train_epochs,
            max_loops=args.max_loops, batch_size=args.batch_size, fresh=args.fresh,
            standardize=args.standardize)
    return 0 if report.passed else 1


def main(argv=None) -> int:
    return cli.run_guarded(lambda: run(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
