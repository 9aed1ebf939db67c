"""The workflow functions pass every setting to their config, which checks it before any
work (nothing is written to ``out``)."""

from __future__ import annotations

import pytest

from keras_recipes.workflows import SteamrollerInputError, practical, steamroller


@pytest.mark.parametrize("setting, value", [
    ("minibatch_steps", -1), ("minibatch_max_loss", -0.5), ("plateau_factor", 0.0),
    ("plateau_patience", 2.5)])
def test_steamroller_checks_the_minibatch_and_staircase_settings(tmp_path, setting, value):
    with pytest.raises(SteamrollerInputError, match=f"`{setting}`"):
        steamroller("digits", out=tmp_path / "run", verbose=0, **{setting: value})
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("setting, value", [("loss_every", -1), ("loss_smoothing", 1.0)])
def test_practical_checks_the_iteration_loss_settings(tmp_path, setting, value):
    with pytest.raises(ValueError, match=f"`{setting}`"):
        practical("digits", out=tmp_path / "run", verbose=0, **{setting: value})
    assert not (tmp_path / "run").exists()
