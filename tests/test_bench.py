"""The remedies bench: Setup validation and building, Bench runs, caching, divergence, headline results."""

from __future__ import annotations

import math
from dataclasses import replace

import keras
import numpy as np
import pytest

from gradbook import data, optimizers
from gradbook.bench import SCHEDULES, Bench, Result, Setup, report, verdict, verdict_table
from keras_examples import OPTIMIZER_CLASSES

# A small setup for the mechanics tests: 3 ReLU layers, one epoch (it learns, so equal
# accuracies mean something).
SMALL = Setup(depth=3, activation="relu", initializer="he", epochs=1)
DIVERGING = Setup(activation="relu", initializer="he", init_scale=3.0, learning_rate=0.01)


@pytest.fixture(scope="module")
def dataset():
    return data.load("fashion_mnist", n_train=3000, n_test=1000, seed=0)


@pytest.fixture(scope="module")
def bench(dataset):
    """One bench for the whole module, so every setup is trained at most once."""
    return Bench(dataset)


def lr_at(optimizer, step: int) -> float:
    """The optimizer's learning rate in force at training step ``step``."""
    optimizer.iterations.assign(step)
    return float(keras.ops.convert_to_tensor(optimizer.learning_rate))


# --- Setup: validation and description ---------------------------------------------------------


def test_unknown_optimizer_lists_the_valid_names():
    with pytest.raises(ValueError, match="adamw") as err:
        Setup(optimizer="adamw")
    assert all(name in str(err.value) for name in optimizers.OPTIMIZERS)


def test_unknown_schedule_lists_the_valid_names():
    with pytest.raises(ValueError, match="cosine_restarts") as err:
        Setup(schedule="cosine_restarts")
    assert all(name in str(err.value) for name in SCHEDULES)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"learning_rate": 0}, "learning_rate"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"learning_rate": float("nan")}, "learning_rate"),
        ({"learning_rate": float("inf")}, "learning_rate"),
        ({"clipnorm": 0}, "clipnorm"),
        ({"clipnorm": -1.0}, "clipnorm"),
        ({"clipvalue": 0.0}, "clipvalue"),
        ({"clipvalue": float("nan")}, "clipvalue"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": 1.5}, "epochs"),
    ],
)
def test_invalid_training_settings_are_rejected(kwargs, name):
    with pytest.raises(ValueError, match=name):
        Setup(**kwargs)


def test_changes_names_what_differs_from_the_baseline():
    assert Setup().changes() == "baseline"
    assert Setup(depth=20, activation="sigmoid").changes() == "baseline"  # the defaults, spelled out
    text = Setup(residual=True, learning_rate=0.01).changes()
    assert "residual=True" in text and "learning_rate=0.01" in text
    assert "depth" not in text and "activation" not in text


# --- Setup.build: optimizers, clipping, schedules ----------------------------------------------


@pytest.mark.parametrize("name, cls, momentum", OPTIMIZER_CLASSES)
def test_build_compiles_the_named_optimizer_with_the_learning_rate(name, cls, momentum):
    model, callbacks = Setup(depth=2, optimizer=name, learning_rate=0.003).build()
    opt = model.optimizer
    assert type(opt) is cls
    assert lr_at(opt, 0) == pytest.approx(0.003, rel=1e-6)
    if momentum is not None:
        assert opt.momentum == pytest.approx(momentum)
    assert opt.clipnorm is None and opt.clipvalue is None
    assert callbacks == []
    assert model(np.zeros((1, 28, 28, 1), np.float32)).shape == (1, 10)


def test_build_passes_clipping_to_the_optimizer():
    by_norm = Setup(depth=2, clipnorm=1.0).build()[0].optimizer
    assert by_norm.clipnorm == 1.0 and by_norm.clipvalue is None
    by_value = Setup(depth=2, optimizer="adam", clipvalue=0.5).build()[0].optimizer
    assert by_value.clipvalue == 0.5 and by_value.clipnorm is None


def _schedule(setup: Setup, n_train: int):
    opt = setup.build(n_train)[0].optimizer
    schedule = keras.optimizers.schedules.deserialize(opt.get_config()["learning_rate"])
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    return opt


def test_step_schedule_divides_by_3_then_9_at_a_third_and_two_thirds():
    # 1920 examples in batches of 64: 30 steps per epoch, 90 steps in 3 epochs.
    lr = 0.3
    opt = _schedule(Setup(depth=2, learning_rate=lr, schedule="step", epochs=3, batch_size=64), 1920)
    assert lr_at(opt, 0) == pytest.approx(lr, rel=1e-6)
    assert lr_at(opt, 29) == pytest.approx(lr, rel=1e-6)
    assert lr_at(opt, 31) == pytest.approx(lr / 3, rel=1e-6)
    assert lr_at(opt, 59) == pytest.approx(lr / 3, rel=1e-6)
    assert lr_at(opt, 61) == pytest.approx(lr / 9, rel=1e-6)
    assert lr_at(opt, 89) == pytest.approx(lr / 9, rel=1e-6)


def test_exponential_schedule_decays_by_a_constant_factor_per_epoch():
    lr, steps_per_epoch = 0.2, 20  # 1280 examples in batches of 64
    opt = _schedule(Setup(depth=2, learning_rate=lr, schedule="exponential", epochs=4, batch_size=64), 1280)
    per_epoch = [lr_at(opt, k * steps_per_epoch) for k in range(4)]
    assert per_epoch[0] == pytest.approx(lr, rel=1e-6)
    factors = [b / a for a, b in zip(per_epoch, per_epoch[1:])]
    assert 0 < factors[0] < 1
    assert factors == pytest.approx([factors[0]] * 3, rel=1e-5)
    within = [lr_at(opt, k) for k in range(steps_per_epoch + 1)]
    assert all(b < a for a, b in zip(within, within[1:]))  # smooth decay, not a staircase


def test_warmup_cosine_warms_up_from_zero_then_decays_to_zero():
    # 6400 examples in batches of 64: 100 steps in one epoch, a tenth of them warm-up.
    lr, total, warmup = 0.1, 100, 10
    opt = _schedule(Setup(depth=2, learning_rate=lr, schedule="warmup_cosine", epochs=1, batch_size=64), 6400)
    assert lr_at(opt, 0) == pytest.approx(0.0, abs=1e-9)
    assert lr_at(opt, warmup // 2) == pytest.approx(lr / 2, rel=1e-5)
    assert lr_at(opt, warmup) == pytest.approx(lr, rel=1e-6)
    halfway = warmup + (total - warmup) // 2  # cosine at half the decay: half the peak
    assert lr_at(opt, halfway) == pytest.approx(lr / 2, rel=1e-5)
    assert lr_at(opt, total) == pytest.approx(0.0, abs=1e-7)
    decay = [lr_at(opt, k) for k in range(warmup, total + 1, 10)]
    assert all(b < a for a, b in zip(decay, decay[1:]))


def test_warmup_cosine_builds_when_training_is_a_single_step():
    # 64 examples, batch 64, one epoch: one step in all. The Setup is valid, so it must build.
    model, _ = Setup(depth=2, schedule="warmup_cosine", epochs=1, batch_size=64).build(64)
    rates = [lr_at(model.optimizer, k) for k in (0, 1)]
    assert all(math.isfinite(r) and 0 <= r <= 0.1 * (1 + 1e-6) for r in rates), rates  # float32 rounding of 0.1


def test_plateau_adds_a_reduce_on_plateau_callback_and_keeps_a_constant_rate():
    model, callbacks = Setup(depth=2, schedule="plateau", learning_rate=0.05).build()
    assert len(callbacks) == 1 and isinstance(callbacks[0], keras.callbacks.ReduceLROnPlateau)
    assert lr_at(model.optimizer, 0) == pytest.approx(0.05, rel=1e-6)
    assert lr_at(model.optimizer, 1000) == pytest.approx(0.05, rel=1e-6)


# --- Bench: caching, results, seeds, determinism -----------------------------------------------


def check_result(result: Result, setup: Setup) -> None:
    assert result.setup == setup
    assert len(result.layers) == len(result.norms_init) == len(result.norms_trained) == setup.depth + 1
    assert result.layers[0] == "hidden_1" and result.layers[-1] == "logits"
    assert len(result.history["val_accuracy"]) == setup.epochs
    assert len(result.history["learning_rate"]) == setup.epochs
    assert result.test_accuracy == result.history["val_accuracy"][-1]
    assert result.seconds > 0
    assert result.diverged is None
    assert np.all(np.isfinite(result.norms_init)) and np.all(np.isfinite(result.norms_trained))
    assert result.first_layer_norm == result.norms_init[0]


@pytest.mark.slow
def test_run_caches_per_setup(bench):
    first = bench.run(SMALL)
    assert bench.run(Setup(depth=3, activation="relu", initializer="he", epochs=1)) is first
    other = bench.run(Setup(depth=3, activation="relu", initializer="he", epochs=1, seed=1))
    assert other is not first and other.setup.seed == 1
    assert not np.array_equal(other.norms_init, first.norms_init)  # other weights, other gradients


@pytest.mark.slow
def test_gradients_at_init_are_what_run_records_before_training(bench, dataset):
    fresh = Bench(dataset)
    norms = fresh.gradients_at_init(SMALL)
    assert fresh.gradients_at_init(SMALL) is norms                 # cached per setup
    np.testing.assert_allclose(norms, bench.run(SMALL).norms_init, rtol=1e-6)
    batch = Setup(depth=3, normalization="batch", epochs=1)       # training-mode statistics, as run uses
    np.testing.assert_allclose(fresh.gradients_at_init(batch), Bench(dataset).run(batch).norms_init, rtol=1e-6)
    assert not fresh._cache                                       # nothing was trained


@pytest.mark.slow
def test_result_fields_are_consistent(bench):
    check_result(bench.run(SMALL), SMALL)
    check_result(bench.run(Setup()), Setup())
    batch = Setup(normalization="batch")
    check_result(bench.run(batch), batch)  # batch-norm layers have no kernel: still depth + 1 rows


@pytest.mark.slow
def test_the_small_setup_learns(bench):
    assert bench.run(SMALL).test_accuracy > 0.5


@pytest.mark.slow
def test_training_follows_the_schedule(bench):
    """The schedule counts steps from the bench's training-set size: halfway per epoch here."""
    setup = Setup(depth=3, activation="relu", initializer="he", epochs=2, schedule="exponential")
    result = bench.run(setup)
    check_result(result, setup)
    rates = result.history["learning_rate"]
    assert rates[0] < setup.learning_rate
    assert rates[1] / rates[0] == pytest.approx(rates[0] / setup.learning_rate, rel=1e-4)


@pytest.mark.slow
def test_seeds_runs_one_result_per_seed(bench):
    results = bench.seeds(SMALL, seeds=(0, 1))
    assert [r.setup.seed for r in results] == [0, 1]
    assert all(r.setup == replace(SMALL, seed=r.setup.seed) for r in results)
    assert results[0] is bench.run(SMALL)  # the cache is shared


@pytest.mark.slow
def test_compare_keeps_the_names(bench):
    setups = {"he": SMALL, "he, seed 1": Setup(depth=3, activation="relu", initializer="he", epochs=1, seed=1)}
    results = bench.compare(setups)
    assert list(results) == list(setups)
    assert all(results[name] is bench.run(s) for name, s in setups.items())


@pytest.mark.slow
def test_two_benches_on_the_same_data_agree(bench, dataset):
    mine, fresh = bench.run(SMALL), Bench(dataset).run(SMALL)
    assert fresh is not mine
    assert fresh.test_accuracy == mine.test_accuracy
    np.testing.assert_array_equal(fresh.norms_init, mine.norms_init)
    np.testing.assert_array_equal(fresh.norms_trained, mine.norms_trained)
    assert fresh.history["loss"] == mine.history["loss"]


@pytest.mark.slow
def test_test_set_scores_are_what_fit_with_validation_data_reports(bench, dataset):
    """The bench scores the test set after each epoch outside fit; the numbers are Keras's own."""
    result = bench.run(SMALL)
    keras.utils.set_random_seed(SMALL.seed)
    model, _ = SMALL.build(len(dataset.x_train))
    keras.utils.set_random_seed(SMALL.seed)
    fit = model.fit(dataset.x_train, dataset.y_train, epochs=SMALL.epochs, batch_size=SMALL.batch_size,
                    validation_data=(dataset.x_test, dataset.y_test), verbose=0)
    np.testing.assert_allclose(result.history["loss"], fit.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(result.history["val_loss"], fit.history["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(result.history["val_accuracy"], fit.history["val_accuracy"], rtol=1e-6)


# --- Divergence ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_diverging_setup_is_reported_not_raised(bench):
    result = bench.run(DIVERGING)
    assert result.diverged is not None and "learning rate" in result.diverged
    assert math.isnan(result.test_accuracy)
    assert np.all(np.isfinite(result.norms_init))  # measured before training
    assert len(result.norms_trained) == DIVERGING.depth + 1
    assert 1 <= len(result.history["loss"]) <= DIVERGING.epochs


@pytest.mark.slow
def test_gradient_clipping_prevents_the_divergence(bench):
    clipped = replace(DIVERGING, clipnorm=1.0)
    result = bench.run(clipped)
    check_result(result, clipped)
    assert math.isfinite(result.test_accuracy)
    assert result.first_layer_norm == bench.run(DIVERGING).first_layer_norm  # same net at init


# --- Headline results ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("remedy", [{"residual": True}, {"activation": "relu", "initializer": "he"}])
def test_remedies_raise_the_first_layer_gradient_100x(bench, remedy):
    baseline = bench.run(Setup()).first_layer_norm
    assert bench.run(Setup(**remedy)).first_layer_norm >= 100 * baseline


@pytest.mark.slow
def test_the_baseline_stays_near_chance(bench):
    assert bench.run(Setup()).test_accuracy < 0.2


@pytest.mark.slow
@pytest.mark.parametrize("remedy", [{"normalization": "batch"}, {"residual": True}])
def test_remedies_beat_the_baseline_by_20_points(bench, remedy):
    baseline = bench.run(Setup()).test_accuracy
    assert bench.run(Setup(**remedy)).test_accuracy >= baseline + 0.20


@pytest.mark.parametrize("field", ["learning_rate", "clipnorm", "clipvalue"])
def test_setup_rejects_booleans_for_numbers(field):
    with pytest.raises(ValueError, match=field):
        Setup(**{field: True})


# --- Measuring several setups, verdicts, reports ----------------------------------------------------


def fake_result(accuracy: float, first_norm: float = 1.0, diverged: str | None = None, seconds: float = 1.0) -> Result:
    """A Result with chosen numbers, for the pure functions that judge and print results."""
    norms = np.array([first_norm, 1.0])
    return Result(Setup(), ["hidden_1", "logits"], norms, norms, {}, accuracy, seconds, diverged)


@pytest.mark.slow
def test_measure_trains_only_the_named_setups_and_measures_all_at_init(dataset):
    fresh = Bench(dataset)
    other = replace(SMALL, seed=3)
    results, norms = fresh.measure({"trained": SMALL, "at init only": other}, train=["trained"])
    assert list(results) == ["trained"] and list(norms) == ["trained", "at init only"]
    assert set(fresh._cache) == {SMALL}                                 # the other was not trained
    np.testing.assert_array_equal(norms["trained"], results["trained"].norms_init)
    np.testing.assert_array_equal(norms["at init only"], fresh.gradients_at_init(other))


@pytest.mark.slow
def test_measure_names_a_setup_it_was_not_given(bench):
    with pytest.raises(KeyError, match="'missing'.*Choose among: 'small'"):
        bench.measure({"small": SMALL}, train=["missing"])


@pytest.mark.parametrize("accuracy, expected", [(0.31, "fixes"), (0.29, "helps"), (0.16, "helps"), (0.149, "no effect"), (0.05, "no effect")])
def test_verdict_thresholds_are_20_and_5_points_over_the_reference(accuracy, expected):
    assert verdict(fake_result(accuracy), fake_result(0.10)) == expected


def test_verdict_of_diverging_runs():
    diverged, fine = fake_result(float("nan"), diverged="loss became NaN"), fake_result(0.1)
    assert verdict(diverged, fine) == "diverged"
    assert verdict(diverged, diverged) == "diverged"
    assert verdict(fine, diverged) == "prevents divergence"


def test_report_gives_the_first_layer_ratio_and_marks_untrained_setups():
    baseline = fake_result(0.1, first_norm=2e-12)
    trained = fake_result(0.75, first_norm=2e-2, seconds=3.25)
    text = report({"bn": trained, "gone": fake_result(float("nan"), diverged="NaN")},
                  {"bn": trained.norms_init, "gone": np.array([4e-12, 1.0]), "init only": np.array([2e-10, 1.0])}, baseline=baseline)
    bn, gone, init_only = text.splitlines()
    assert "x 1.0e+10" in bn and "0.750" in bn and "3.2 s" in bn
    assert "x 2.0e+00" in gone and "diverged" in gone
    assert "x 1.0e+02" in init_only and "not trained here" in init_only


def test_verdict_table_escapes_names_and_judges_against_the_reference():
    baseline, better = fake_result(0.1, first_norm=1e-12), fake_result(0.7, first_norm=1e-2)
    table = verdict_table({"<baseline>": baseline, "fix & more": better}, baseline, baseline=baseline, first_column="remedy")
    assert "&lt;baseline&gt;" in table and "fix &amp; more" in table and "<th>remedy</th>" in table
    assert table.count("<tr>") == 3 and "(reference)" in table and "<b>fixes</b>" in table and "1.0e+10" in table


def test_all_exports_the_verdict_thresholds():
    from gradbook import bench

    assert {"FIXES", "HELPS"} <= set(bench.__all__) and (bench.FIXES, bench.HELPS) == (0.20, 0.05)
    assert all(hasattr(bench, name) for name in bench.__all__)
