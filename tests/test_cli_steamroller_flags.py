"""`keras-recipes steamroller`'s flags and defaults, pinned as the command had them before its
options were generated from `SteamrollerConfig`'s fields.

The table below was read from ``keras-recipes steamroller --help`` (and the parsed
defaults) before that change: a flag may be added, but none of these may change name,
destination or default.
"""

import pytest

from keras_recipes import cli

#: flag -> (parsed destination, default, what the help shows as the default or None).
FLAGS = {
    "--dataset": ("dataset", "digits", "digits"),
    "--target": ("target", None, None),
    "--drop": ("drop", None, None),
    "--model": ("model", "mlp", "mlp"),
    "--no-standardize": ("standardize", True, None),
    "--seed": ("seed", 0, "0"),
    "--out": ("out", "runs/steamroller", "runs/steamroller; a rerun resumes it"),
    "--stage-classes": ("stage_classes", 2, "2"),
    "--stage1-per-class": ("stage1_per_class", 10, "10"),
    "--stage1-epochs": ("stage1_epochs", 100, "100"),
    "--stage2-epochs": ("stage2_epochs", 20, "20"),
    "--stage3-epochs": ("stage3_epochs", 20, "20"),
    "--batch-size": ("batch_size", 32, "32"),
    "--min-val-accuracy": ("min_val_accuracy", 0.9, "0.9"),
    "--lr-finder-steps": ("lr_finder_steps", 100, "100"),
    "--schedule": ("schedule", "onecycle", "onecycle"),
    "--plateau-factor": ("plateau_factor", 0.2, "0.2"),
    "--plateau-patience": ("plateau_patience", 3, "3"),
    "--minibatch-steps": ("minibatch_steps", 100, "100"),
    "--minibatch-max-loss": ("minibatch_max_loss", 0.01, "0.01"),
    "--no-grow": ("grow", True, None),
    "--fresh": ("fresh", False, None),
    "--distribute": ("distribute", None, "one device"),
    "--quiet": ("quiet", False, None),
}
#: Choices shown in the usage line.
CHOICES = {"--model": "{mlp,cnn}", "--schedule": "{onecycle,cosine,staircase}",
           "--distribute": "{mirrored,multiworker,jax-data-parallel}"}


def _entries(capsys, monkeypatch) -> dict[str, str]:
    """``--help``'s options section as {flag: its whole entry on one line}."""
    monkeypatch.setenv("COLUMNS", "2000")  # no wrapping inside a help text
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args(["steamroller", "--help"])
    assert exit_info.value.code == 0
    options = capsys.readouterr().out.split("\noptions:\n", 1)[1]
    entries: dict[str, str] = {}
    flag = None
    for line in options.splitlines():
        if line.startswith("  -"):  # an option's first line; its help may follow below
            flag = line.split()[0].rstrip(",")
            entries[flag] = line.strip()
        elif flag is not None and line.strip():
            entries[flag] += " " + line.strip()
    return entries


def test_parsed_defaults_are_todays():
    args = vars(cli.build_parser().parse_args(["steamroller"]))
    for flag, (dest, default, _) in FLAGS.items():
        assert dest in args, flag
        assert args[dest] == default and type(args[dest]) is type(default), flag


@pytest.mark.parametrize("flag", sorted(FLAGS))
def test_each_flag_is_listed_with_its_default(flag, capsys, monkeypatch):
    entry = _entries(capsys, monkeypatch)[flag]
    shown = FLAGS[flag][2]
    if shown is not None:
        assert f"(default: {shown})" in entry, entry
    if flag in CHOICES:
        assert entry.startswith(f"{flag} {CHOICES[flag]}"), entry


def test_values_parse_as_before():
    args = cli.build_parser().parse_args([
        "steamroller", "--stage-classes", "3,8", "--drop", "id,date", "--stage1-epochs", "7",
        "--min-val-accuracy", "0.5", "--plateau-patience", "0", "--minibatch-steps", "0",
        "--no-grow", "--no-standardize", "--fresh", "--quiet", "--schedule", "staircase"])
    assert args.stage_classes == ["3", "8"] and args.drop == ["id", "date"]
    assert args.stage1_epochs == 7 and args.min_val_accuracy == 0.5
    assert args.plateau_patience == 0 and args.minibatch_steps == 0
    assert (args.grow, args.standardize, args.fresh, args.quiet) == (False, False, True, True)
    assert args.schedule == "staircase"


@pytest.mark.parametrize("argv", [
    ["--stage1-epochs", "0"], ["--plateau-patience", "-1"], ["--min-val-accuracy", "0"],
    ["--minibatch-max-loss", "nan"], ["--schedule", "linear"], ["--batch-size", "2.5"]])
def test_bad_values_are_refused_by_the_parser(argv):
    with pytest.raises(cli.UsageError):
        cli.build_parser().parse_args(["steamroller", *argv])
