"""Tests for gradbook.speedrun: recipes, their ablations, the compiled network and the run itself (on digits)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gradbook import data, speedrun
from gradbook.speedrun import BASELINE, INGREDIENTS, SPEED_RUN, Recipe


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", n_train=400, n_test=200, seed=0)


TINY = Recipe(filters=(8, 16), hidden=16, batch_norm_momentum=0.9, batch_size=32, epochs=4, flip=True,
              label_smoothing=0.1, test_time_flip=True)


# -- recipes ------------------------------------------------------------------------------------------
def test_baseline_is_chapter_6s_fast_cnn_run():
    assert (BASELINE.filters, BASELINE.hidden, BASELINE.dropout) == ((32, 64), 0, 0.3)
    assert (BASELINE.batch_norm_momentum, BASELINE.schedule, BASELINE.learning_rate) == (0.99, "warmup_cosine", 3e-3)
    assert (BASELINE.batch_size, BASELINE.epochs, BASELINE.dtype_policy) == (128, 10, None)
    assert not (BASELINE.flip or BASELINE.label_smoothing or BASELINE.test_time_flip)


def test_without_sets_each_ingredient_back_and_nothing_else():
    for name, settings in INGREDIENTS.items():
        out = SPEED_RUN.without(name)
        for field in dataclasses.fields(Recipe):
            expected = settings.get(field.name, getattr(SPEED_RUN, field.name))
            assert getattr(out, field.name) == expected, (name, field.name)


def test_ablations_list_exactly_the_ingredients_a_recipe_uses():
    assert speedrun.ablations(BASELINE.without("schedule")) == {}
    assert speedrun.ablations(BASELINE) == {"schedule": BASELINE.without("schedule")}
    used = speedrun.ablations(TINY)
    assert set(used) == {"width", "batch_norm_momentum", "schedule", "batch_size", "augmentation",
                         "label_smoothing", "test_time_augmentation"}
    assert all(recipe != TINY for recipe in used.values())
    assert "precision" in speedrun.ablations(dataclasses.replace(TINY, dtype_policy="mixed_bfloat16"))


def test_without_unknown_ingredient_names_the_choices():
    with pytest.raises(ValueError, match="label_smoothing"):
        SPEED_RUN.without("dropout_magic")


@pytest.mark.parametrize("kwargs, match", [
    ({"filters": (32,)}, "filters"), ({"filters": [32, 64]}, "filters"), ({"filters": (0, 64)}, "filters"),
    ({"hidden": -1}, "hidden"), ({"schedule": "cyclic"}, "schedule"), ({"learning_rate": 0}, "learning_rate"),
    ({"batch_size": 0}, "batch_size"), ({"epochs": 1.5}, "epochs"), ({"label_smoothing": 1.0}, "label_smoothing"),
    ({"dtype_policy": "float64"}, "dtype_policy"), ({"flip": 1}, "flip"), ({"test_time_flip": "no"}, "test_time_flip"),
    ({"batch_norm_momentum": 1.0}, "batch_norm_momentum"), ({"dropout": -0.1}, "dropout"),
    ({"stem": -2}, "stem"), ({"steps_per_execution": 0}, "steps_per_execution"), ({"fused_batch_norm": 0}, "fused_batch_norm"), ({"flip": True, "epochs": 3}, "even"),
])
def test_recipe_rejects_bad_settings_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Recipe(**kwargs)


# -- the compiled network -----------------------------------------------------------------------------
def test_build_follows_the_recipe():
    model = speedrun.build(TINY, (8, 8, 1), 10, steps_per_epoch=5)
    assert model.get_layer("conv_1").filters == 8 and model.get_layer("hidden").units == 16
    assert "flip" not in [layer.name for layer in model.layers]   # mirror images are data: run() makes them
    assert model.get_layer("norm_1").momentum == 0.9
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    assert model.loss.get_config()["from_logits"]
    schedule = model.optimizer.learning_rate
    # warm-up over a tenth of the 20 steps, to the peak, then cosine decay to zero
    model.optimizer.iterations.assign(2)
    assert float(model.optimizer.learning_rate) == pytest.approx(TINY.learning_rate)
    model.optimizer.iterations.assign(20)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    del schedule
    constant = speedrun.build(TINY.without("schedule"), (8, 8, 1), 10, steps_per_epoch=5)
    constant.optimizer.iterations.assign(19)
    assert float(constant.optimizer.learning_rate) == pytest.approx(1e-3)


def test_build_puts_in_the_stem_and_the_fused_kernel():
    from gradbook import models

    model = speedrun.build(TINY.adding("stem").adding("fused_batch_norm"), (8, 8, 1), 10, steps_per_epoch=5)
    assert model.get_layer("stem").filters == speedrun.ADDITIONS["stem"]["stem"]
    assert all(isinstance(model.get_layer(f"norm_{i}"), models.FusedBatchNormalization) for i in (1, 2, 3))
    assert SPEED_RUN.uses("stem") and SPEED_RUN.uses("fused_batch_norm")
    assert not TINY.without("augmentation").test_time_flip   # test-time mirrors go with the training ones


def test_predict_with_test_time_flip_averages_the_image_and_its_mirror():
    model = speedrun.build(TINY, (8, 8, 1), 10, steps_per_epoch=5)
    x = np.random.default_rng(0).uniform(0, 1, (6, 8, 8, 1)).astype("float32")
    plain = speedrun.predict(model, x)
    mirror = speedrun.predict(model, x[:, :, ::-1])
    np.testing.assert_allclose(speedrun.predict(model, x, test_time_flip=True), (plain + mirror) / 2, rtol=1e-5, atol=1e-6)
    assert not np.allclose(plain, mirror)


# -- a run --------------------------------------------------------------------------------------------
def test_run_learns_and_is_deterministic(digits):
    a = speedrun.run(TINY, digits.x_train, digits.y_train, digits.x_test, digits.y_test, seed=0)
    b = speedrun.run(TINY, digits.x_train, digits.y_train, digits.x_test, digits.y_test, seed=0)
    assert a.accuracy == b.accuracy
    assert a.seconds > a.training.seconds > 0      # making the mirror images counts as training time
    # With mirror images, four epochs are two passes over twice the images.
    assert len(a.training.history["loss"]) == TINY.epochs // 2
    assert a.model.optimizer.iterations.numpy() == TINY.epochs // 2 * np.ceil(2 * len(digits.x_train) / TINY.batch_size)
    assert speedrun.steps(TINY, len(digits.x_train)) == a.model.optimizer.iterations.numpy()
    assert a.recipe is TINY and a.seed == 0
    c = speedrun.run(TINY, digits.x_train, digits.y_train, digits.x_test, digits.y_test, seed=1)
    assert c.training.history["loss"] != a.training.history["loss"]


def test_steps_counts_the_optimiser_steps_of_a_run(digits):
    # 400 images, batches of 32: 13 batches a pass (the last one short).
    plain = dataclasses.replace(TINY, flip=False, epochs=3)
    assert speedrun.steps(plain, 400) == 3 * 13
    # Mirror images: 4 epochs are 2 passes over 800 images, 25 batches each.
    assert speedrun.steps(TINY, 400) == 2 * 25
    result = speedrun.run(plain, digits.x_train, digits.y_train, digits.x_test, digits.y_test, seed=0)
    assert result.model.optimizer.iterations.numpy() == speedrun.steps(plain, len(digits.x_train))
    # The speed-run takes four fifths of the baseline's steps on the 60,000 Fashion-MNIST training images.
    assert speedrun.steps(SPEED_RUN, 60_000) / speedrun.steps(BASELINE, 60_000) == pytest.approx(0.8)
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="n_images must be a positive whole number"):
            speedrun.steps(TINY, bad)


def test_steps_per_execution_runs_the_same_steps_in_fewer_calls(digits):
    """Grouping steps changes how often Python calls the compiled step, not the training itself."""
    grouped = dataclasses.replace(TINY, steps_per_execution=4)
    model = speedrun.build(grouped, (8, 8, 1), 10, steps_per_epoch=5)
    assert model.steps_per_execution == 4
    one = speedrun.run(TINY, digits.x_train, digits.y_train, digits.x_test, digits.y_test, seed=0)
    four = speedrun.run(grouped, digits.x_train, digits.y_train, digits.x_test, digits.y_test, seed=0)
    assert four.model.optimizer.iterations.numpy() == one.model.optimizer.iterations.numpy()
    for a, b in zip(one.model.get_weights(), four.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert SPEED_RUN.uses("steps_per_execution") and not BASELINE.uses("steps_per_execution")


def test_run_learns_digits_without_mirroring_them(digits):
    # Digits are not mirror-symmetric, so this recipe leaves flips out, in training and in testing.
    recipe = dataclasses.replace(TINY, flip=False, test_time_flip=False, epochs=8)
    result = speedrun.run(recipe, digits.x_train, digits.y_train, digits.x_test, digits.y_test, seed=0)
    assert result.accuracy > 0.5          # ten classes: chance is 0.1
    assert result.accuracy * len(digits.y_test) == pytest.approx(round(result.accuracy * len(digits.y_test)))


@pytest.mark.parametrize("bad", ["flat", "labels", "empty"])
def test_run_rejects_data_of_the_wrong_shape(digits, bad):
    x, y = digits.x_train, digits.y_train
    if bad == "flat":
        x = x.reshape(len(x), -1)
    elif bad == "labels":
        y = y[:-1]
    else:
        x, y = x[:0], y[:0]
    with pytest.raises(ValueError, match="training images"):
        speedrun.run(TINY, x, y, digits.x_test, digits.y_test)


def test_additions_put_in_each_left_out_ingredient_and_nothing_else():
    added = speedrun.additions(SPEED_RUN)
    assert set(added) == {name for name in speedrun.ADDITIONS if not SPEED_RUN.uses(name)}
    # An ingredient the recipe already uses at another setting (its stem's width) is not "added".
    assert SPEED_RUN.uses("stem") and "stem" not in added
    for name, recipe in added.items():
        changed = {f.name for f in dataclasses.fields(Recipe) if getattr(recipe, f.name) != getattr(SPEED_RUN, f.name)}
        assert changed == set(speedrun.ADDITIONS[name]), name
    # TINY has the rest already.
    assert set(speedrun.additions(TINY)) == {"stem", "fused_batch_norm", "precision", "steps_per_execution"}
    assert "stem" not in speedrun.additions(dataclasses.replace(TINY, stem=4))
    assert SPEED_RUN.adding("test_time_augmentation").flip  # mirrored at test time only after training on mirrors


def test_adding_an_unknown_ingredient_names_the_choices():
    with pytest.raises(ValueError, match="label_smoothing"):
        SPEED_RUN.adding("width")


def test_ablation_rows_and_test_time_augmentation_reusing_the_flipped_network(digits, caplog, monkeypatch):
    import logging

    recipe = Recipe(filters=(4, 4), hidden=4, batch_size=64, epochs=2)
    levels, train = [], speedrun.run

    def recording_run(*args, **kwargs):
        levels.append(logging.getLogger("tensorflow").level)
        return train(*args, **kwargs)

    monkeypatch.setattr(speedrun, "run", recording_run)
    with caplog.at_level(logging.INFO, logger="tensorflow"):
        rows = speedrun.ablation(recipe, digits.x_train, digits.y_train, digits.x_test, digits.y_test, seed=0)
        # Each row traces a network of its own: TensorFlow's warnings (its retracing warning among
        # them) are held back while the rows train, and the logger's level is given back afterwards.
        assert logging.getLogger("tensorflow").level == logging.INFO
    assert levels and set(levels) == {logging.ERROR}
    assert list(rows) == ["speed-run", *(f"without {k}" for k in speedrun.ablations(recipe)),
                          *(f"with {k}" for k in speedrun.additions(recipe))]
    flipped, tta = rows["with augmentation"], rows["with test_time_augmentation"]
    assert tta.model is flipped.model and tta.seconds == flipped.seconds and tta.recipe.test_time_flip
    both = np.argmax(speedrun.predict(flipped.model, digits.x_test, test_time_flip=True), axis=1)
    assert tta.accuracy == float(np.mean(both == digits.y_test))
    assert rows["with label_smoothing"].recipe == recipe.adding("label_smoothing")
    assert rows["without width"].model is not rows["speed-run"].model


def test_ablation_measures_the_recipe_without_test_time_augmentation_on_its_own_network(digits):
    recipe = Recipe(filters=(4, 4), hidden=4, batch_size=64, epochs=2, flip=True, test_time_flip=True)
    rows = speedrun.ablation(recipe, digits.x_train, digits.y_train, digits.x_test, digits.y_test, seed=0)
    full, plain = rows["speed-run"], rows["without test_time_augmentation"]
    assert plain.model is full.model and plain.seconds == full.seconds and not plain.recipe.test_time_flip
    assert plain.accuracy == float(np.mean(np.argmax(speedrun.predict(full.model, digits.x_test), axis=1) == digits.y_test))
    assert rows["without augmentation"].model is not full.model    # no mirrors in training: trained anew


def test_ablation_with_chosen_ingredients_trains_only_their_rows(digits, monkeypatch):
    recipe = Recipe(filters=(4, 4), hidden=4, batch_size=64, epochs=2, flip=True, test_time_flip=True)
    trained, train = [], speedrun.run

    def counting_run(r, *args, **kwargs):
        trained.append(r)
        return train(r, *args, **kwargs)

    monkeypatch.setattr(speedrun, "run", counting_run)
    rows = speedrun.ablation(recipe, digits.x_train, digits.y_train, digits.x_test, digits.y_test, seed=0,
                             ingredients=["augmentation", "stem", "test_time_augmentation"])
    # "augmentation" is taken out (the recipe uses it); "stem" is added (it does not); the recipe's order is kept.
    assert list(rows) == ["speed-run", "without augmentation", "without test_time_augmentation", "with stem"]
    assert trained == [recipe, recipe.without("augmentation"), recipe.adding("stem")]   # test-time row reuses
    everything = speedrun.ablation(recipe, digits.x_train, digits.y_train, digits.x_test, digits.y_test, seed=0)
    for name, row in rows.items():
        assert row.accuracy == everything[name].accuracy      # the same seed: the same rows as in the full ablation
    with pytest.raises(ValueError, match=r"Unknown ingredient 'dropout'\. Choose one of: width, stem"):
        speedrun.ablation(recipe, digits.x_train, digits.y_train, digits.x_test, digits.y_test,
                          ingredients=["stem", "dropout"])


# -- the recorded benchmark result --------------------------------------------------------------------
def test_the_recorded_result_belongs_to_todays_recipes_and_is_self_consistent():
    import statistics

    rec = speedrun.recorded()
    for name in ("baseline", "speed_run"):
        runs = rec["runs"][name]
        assert [r["seed"] for r in runs] == list(range(len(runs))) and len(runs) >= 3
        for key in ("test_accuracy", "train_seconds"):
            assert rec["median"][name][key] == statistics.median(r[key] for r in runs)
    pairs = zip(rec["runs"]["baseline"], rec["runs"]["speed_run"])
    ratio = statistics.median(s["train_seconds"] / b["train_seconds"] for b, s in pairs)   # seed by seed
    assert rec["time_ratio"] == pytest.approx(ratio)
    rows = rec["ablation"]["rows"]
    assert list(rows) == ["speed-run", *(f"without {k}" for k in speedrun.ablations()),
                          *(f"with {k}" for k in speedrun.additions())]
    assert rec["ablation"]["training_images"] + rec["ablation"]["validation_images"] == 60_000


def test_a_stale_record_is_refused_with_the_fix(monkeypatch):
    stale = dataclasses.replace(SPEED_RUN, epochs=SPEED_RUN.epochs + 2)
    monkeypatch.setattr(speedrun, "SPEED_RUN", stale)
    with pytest.raises(ValueError, match="--record"):
        speedrun.recorded()
