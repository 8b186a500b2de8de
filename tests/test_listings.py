"""Tests for gradbook.listings: the documents' CNNs rebuilt as written and corrected.

Expectations are derived independently of the module: parameter counts from the layer formulas,
the loss floor from ``log(e + k - 1) - 1`` and from Keras's own loss applied to one-hot
probabilities, the smallest usable image from the valid-convolution and pooling arithmetic, and
the "rescue" of the softmax + ``from_logits=True`` bug by training both versions side by side.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradbook import data, training
from gradbook.listings import LISTINGS, Listing, loss_floor

# What the documents wrote, quoted (with its origin) in the repository: the tests need nothing beside it.
SOURCE = json.loads((Path(__file__).parent / "data" / "source_listings.json").read_text())["listings"]
SHAPE = (28, 28, 1)


# -- helpers and fixtures ----------------------------------------------------------------------------
def layers_of(model, kind):
    return [layer for layer in model.layers if isinstance(layer, kind)]


def softmax(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def train_recording(listing, ds, *, corrected, epochs=1, dtype_policy=None):
    """Build and train one version; return (model, history, warning messages)."""
    model = listing.build(ds.x_train.shape[1:], corrected=corrected, dtype_policy=dtype_policy, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = training.train(model, ds.x_train, listing.targets(ds.y_train, corrected=corrected),
                                epochs=epochs, seed=0)
    return model, result.history, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def small():
    return data.load("fashion_mnist", n_train=600, n_test=50)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 1, (4, *SHAPE)).astype(np.float32)


# -- the table ---------------------------------------------------------------------------------------
def test_listing_keys_and_documents_match_the_quoted_source():
    assert sorted(LISTINGS) == ["000", "001", "002", "004"]
    for key, listing in LISTINGS.items():
        assert isinstance(listing, Listing)
        assert listing.key == key
        assert listing.document.startswith(key + "_")
        assert SOURCE[key]["document"] == listing.document


@pytest.mark.parametrize("key", sorted(LISTINGS))
def test_loss_as_written_appears_in_the_document(key):
    listing = LISTINGS[key]
    text = "\n".join(SOURCE[key]["lines"])
    assert ("from_logits=True" in text) == listing.softmax_with_from_logits
    assert "softmax" in text  # every listing ends in a softmax layer
    if listing.one_hot_labels:
        assert "'categorical_crossentropy'" in text


def test_which_listings_have_the_from_logits_bug():
    assert {k for k, v in LISTINGS.items() if v.softmax_with_from_logits} == {"000", "001"}
    assert {k for k, v in LISTINGS.items() if v.one_hot_labels} == {"002"}
    assert all(LISTINGS[k].problems for k in LISTINGS)  # every listing has something wrong


def test_listing_is_immutable():
    with pytest.raises(AttributeError):
        LISTINGS["000"].loss = "mse"  # type: ignore[misc]


# -- build: structure ----------------------------------------------------------------------------------
def conv_params(k, c_in, c_out):
    return k * k * c_in * c_out + c_out


def dense_params(n_in, n_out):
    return n_in * n_out + n_out


# Parameter counts on 28x28x1, from the layer formulas and valid-conv / pool arithmetic:
# 3 convs: 28 -conv-> 26 -pool-> 13 -conv-> 11 -pool-> 5 -conv-> 3 (3*3*64 = 576 features)
# 2 convs: 28 -conv-> 26 -pool-> 13 -conv-> 11 -pool-> 5 (5*5*64 = 1600 features)
THREE_CONVS = conv_params(3, 1, 32) + conv_params(3, 32, 64) + conv_params(3, 64, 64)
TWO_CONVS = conv_params(3, 1, 32) + conv_params(3, 32, 64)
EXPECTED = {
    # key: (convs, dense units (hidden, output), parameters)
    "000": (3, [64, 10], THREE_CONVS + dense_params(576, 64) + dense_params(64, 10)),
    "001": (2, [128, 10], TWO_CONVS + dense_params(1600, 128) + dense_params(128, 10)),
    "002": (3, [64, 10], THREE_CONVS + dense_params(576, 64) + dense_params(64, 10)),
    "004": (2, [64, 10], TWO_CONVS + dense_params(1600, 64) + dense_params(64, 10)),
}


@pytest.mark.parametrize("key", sorted(LISTINGS))
def test_layer_stack_and_parameter_count(key):
    convs, units, params = EXPECTED[key]
    for corrected in (False, True):
        model = LISTINGS[key].build(SHAPE, corrected=corrected)
        conv_layers = layers_of(model, keras.layers.Conv2D)
        assert len(conv_layers) == convs
        assert [layer.filters for layer in conv_layers] == [32, 64, 64][:convs]
        assert all(tuple(layer.kernel_size) == (3, 3) for layer in conv_layers)
        assert all(layer.get_config()["activation"] == "relu" for layer in conv_layers)
        assert len(layers_of(model, keras.layers.MaxPooling2D)) == 2
        dense = layers_of(model, keras.layers.Dense)
        assert [layer.units for layer in dense] == units
        assert dense[0].get_config()["activation"] == "relu"
        assert dense[-1].get_config()["activation"] == ("linear" if corrected else "softmax")
        assert model.count_params() == params


def test_001_is_a_subclassed_model_the_others_sequential():
    for key, listing in LISTINGS.items():
        model = listing.build(SHAPE)
        assert isinstance(model, keras.Model)
        if key == "001":
            assert not isinstance(model, keras.Sequential)
            assert type(model).call is not keras.Model.call  # its own forward pass
        else:
            assert isinstance(model, keras.Sequential)


@pytest.mark.parametrize("key", sorted(LISTINGS))
def test_as_written_outputs_probabilities(key, images):
    model = LISTINGS[key].build(SHAPE, corrected=False)
    assert model.compiled
    p = np.asarray(model(images))
    assert p.shape == (len(images), 10)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("key", sorted(LISTINGS))
def test_corrected_outputs_logits_and_softmax_of_them_is_the_as_written_output(key, images):
    written = LISTINGS[key].build(SHAPE, corrected=False, seed=3)
    corrected = LISTINGS[key].build(SHAPE, corrected=True, seed=3)
    assert corrected.compiled
    z = np.asarray(corrected(images))
    assert z.shape == (len(images), 10)
    assert np.any(z < 0)
    assert not np.allclose(z.sum(axis=1), 1.0, atol=1e-3)
    # Same seed, same weights: the corrected network is the written one without its softmax.
    np.testing.assert_allclose(np.asarray(written(images)), softmax(z), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("key", sorted(LISTINGS))
def test_same_seed_same_weights_both_ways_other_seed_differs(key):
    a = LISTINGS[key].build(SHAPE, corrected=False, seed=5).get_weights()
    b = LISTINGS[key].build(SHAPE, corrected=True, seed=5).get_weights()
    c = LISTINGS[key].build(SHAPE, corrected=False, seed=6).get_weights()
    assert len(a) == len(b) == len(c)
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    assert any(wa.ndim > 1 and not np.array_equal(wa, wc) for wa, wc in zip(a, c))


@pytest.mark.parametrize("key", sorted(LISTINGS))
def test_compile_settings(key):
    listing = LISTINGS[key]
    written = listing.build(SHAPE, corrected=False)
    corrected = listing.build(SHAPE, corrected=True)
    expected_opt = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}[listing.optimizer]
    for model in (written, corrected):
        assert isinstance(model.optimizer, expected_opt)
        assert float(model.optimizer.learning_rate) == pytest.approx(0.001)
    assert isinstance(corrected.loss, keras.losses.SparseCategoricalCrossentropy)
    assert corrected.loss.get_config()["from_logits"] is True
    if listing.softmax_with_from_logits:
        assert isinstance(written.loss, keras.losses.SparseCategoricalCrossentropy)
        assert written.loss.get_config()["from_logits"] is True
    else:
        assert written.loss == listing.loss


def test_num_classes_sets_the_output_width(images):
    for key in LISTINGS:
        model = LISTINGS[key].build(SHAPE, num_classes=3)
        assert np.asarray(model(images[:2])).shape == (2, 3)


# -- build: input shapes ---------------------------------------------------------------------------
def smallest_side(convs):
    """The smallest square side that leaves >= 1 pixel: valid 3x3 convs, 2x2 pools after the
    first two convs, worked out by trying sizes."""
    for side in range(1, 100):
        h = side
        ok = True
        for i in range(convs):
            h -= 2
            if h < 1:
                ok = False
                break
            if i < 2:
                h //= 2
                if h < 1:
                    ok = False
                    break
        if ok:
            return side
    raise AssertionError


@pytest.mark.parametrize("key", sorted(LISTINGS))
def test_digits_are_too_small_and_the_message_names_the_minimum(key):
    convs = EXPECTED[key][0]
    side = smallest_side(convs)
    assert side == (18 if convs == 3 else 10)
    digits = data.load("digits", n_train=10, n_test=10)
    with pytest.raises(ValueError) as err:
        LISTINGS[key].build(digits.x_train.shape[1:])
    assert f"{side}x{side}" in str(err.value)
    assert "8x8" in str(err.value)
    with pytest.raises(ValueError, match=f"{side}x{side}"):
        LISTINGS[key].build((side - 1, side - 1, 1), corrected=True)
    with pytest.raises(ValueError, match=f"{side}x{side}"):
        LISTINGS[key].build((side - 1, 64, 1))  # one short side is enough to fail


@pytest.mark.parametrize("key", sorted(LISTINGS))
def test_the_minimum_size_builds_and_runs(key):
    side = smallest_side(EXPECTED[key][0])
    model = LISTINGS[key].build((side, side, 3))
    x = np.random.default_rng(0).uniform(0, 1, (2, side, side, 3)).astype(np.float32)
    p = np.asarray(model(x))
    assert p.shape == (2, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("shape", [(28, 28), (784,), (1, 28, 28, 1), (28, 28, 0), (0, 28, 1)])
def test_bad_input_shape(shape):
    for key in LISTINGS:
        with pytest.raises(ValueError, match="input_shape"):
            LISTINGS[key].build(shape)


# -- build: without pooling --------------------------------------------------------------------------
# Without its pools, 28x28 shrinks only by the valid convolutions: 28 -> 26 -> 24 (-> 22).
WITHOUT_POOLING = {
    "000": THREE_CONVS + dense_params(22 * 22 * 64, 64) + dense_params(64, 10),
    "001": TWO_CONVS + dense_params(24 * 24 * 64, 128) + dense_params(128, 10),
    "002": THREE_CONVS + dense_params(22 * 22 * 64, 64) + dense_params(64, 10),
    "004": TWO_CONVS + dense_params(24 * 24 * 64, 64) + dense_params(64, 10),
}


@pytest.mark.parametrize("key", sorted(LISTINGS))
def test_without_pooling_the_convolutions_keep_their_parameters_and_the_dense_layer_grows(key, images):
    pooled = LISTINGS[key].build(SHAPE)
    unpooled = LISTINGS[key].build(SHAPE, pooling=False)
    assert not layers_of(unpooled, keras.layers.MaxPooling2D)
    conv_weights = lambda model: sum(layer.count_params() for layer in layers_of(model, keras.layers.Conv2D))
    assert conv_weights(unpooled) == conv_weights(pooled)
    assert unpooled.count_params() == WITHOUT_POOLING[key]
    assert unpooled.count_params() > 10 * pooled.count_params()
    p = np.asarray(unpooled(images[:2]))
    assert p.shape == (2, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("key", sorted(LISTINGS))
def test_without_pooling_the_smallest_image_is_what_the_convolutions_leave(key):
    side = 2 * EXPECTED[key][0] + 1  # each valid 3x3 convolution takes 2 pixels off a side
    model = LISTINGS[key].build((side, side, 1), pooling=False)
    assert np.asarray(model(np.zeros((1, side, side, 1), np.float32))).shape == (1, 10)
    with pytest.raises(ValueError, match=f"{side}x{side}"):
        LISTINGS[key].build((side - 1, side - 1, 1), pooling=False)


@pytest.mark.parametrize("pooling", [1, 0, "no", None])
def test_pooling_must_be_true_or_false(pooling):
    with pytest.raises(ValueError, match="pooling"):
        LISTINGS["004"].build(SHAPE, pooling=pooling)


# -- targets ---------------------------------------------------------------------------------------
def test_targets():
    y = np.array([3, 0, 9, 3])
    one_hot = LISTINGS["002"].targets(y)
    assert one_hot.shape == (4, 10)
    np.testing.assert_array_equal(one_hot.argmax(axis=1), y)
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1.0)
    assert set(np.unique(one_hot)) == {0.0, 1.0}
    assert LISTINGS["002"].targets(y, num_classes=12).shape == (4, 12)
    np.testing.assert_array_equal(LISTINGS["002"].targets(y, corrected=True), y)
    for key in ("000", "001", "004"):
        for corrected in (False, True):
            np.testing.assert_array_equal(LISTINGS[key].targets(y, corrected=corrected), y)


# -- loss_floor ------------------------------------------------------------------------------------
def test_loss_floor_value():
    assert loss_floor() == loss_floor(10)
    assert loss_floor(10) == pytest.approx(math.log(math.e + 9) - 1, rel=1e-12)
    assert loss_floor(10) == pytest.approx(1.4612, abs=1e-4)
    assert loss_floor(np.int64(10)) == loss_floor(10)


@pytest.mark.parametrize("k", [2, 3, 10, 100])
def test_loss_floor_is_keras_loss_on_perfect_probabilities(k):
    labels = np.arange(k) % k
    perfect = np.eye(k, dtype=np.float32)[labels]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    per_example = np.asarray(loss(labels, perfect))
    np.testing.assert_allclose(per_example, loss_floor(k), rtol=1e-6)
    assert loss_floor(k) > 0
    assert loss_floor(k) < math.log(k)  # better than a uniform guess, but far from 0


def test_loss_floor_grows_with_classes():
    floors = [loss_floor(k) for k in range(2, 30)]
    assert all(a < b for a, b in zip(floors, floors[1:]))


@given(
    st.lists(st.floats(0, 1, allow_subnormal=False), min_size=10, max_size=10).filter(lambda v: sum(v) > 1e-3),
    st.integers(0, 9),
)
def test_no_probability_vector_scores_below_the_floor(weights, label):
    p = np.asarray(weights, dtype=np.float64)
    p = (p / p.sum()).astype(np.float32)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    value = float(loss(np.array([label]), p[None, :]))
    expected = -math.log(softmax(p)[label])  # softmax applied a second time
    assert value == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert value >= loss_floor(10) - 1e-6


def test_seeded_random_probabilities_stay_above_the_floor():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(10, 0.05), size=2000).astype(np.float32)  # many nearly one-hot
    y = p.argmax(axis=1)  # the most favourable label
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    values = np.asarray(loss(y, p))
    assert values.min() >= loss_floor(10) - 1e-6
    assert values.min() < loss_floor(10) + 0.05  # the floor is nearly reached, so it is tight


@pytest.mark.parametrize("k", [1, 0, -3, 2.5, 10.0, True, "10", None])
def test_loss_floor_rejects_bad_num_classes(k):
    with pytest.raises(ValueError, match="num_classes"):
        loss_floor(k)


# -- training: the softmax + from_logits=True bug ----------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("key", ["000", "001"])
def test_float32_keras_rescues_softmax_with_from_logits(key, small):
    listing = LISTINGS[key]
    _, written, written_warnings = train_recording(listing, small, corrected=False)
    _, corrected, corrected_warnings = train_recording(listing, small, corrected=True)
    np.testing.assert_allclose(written["loss"], corrected["loss"], rtol=1e-5)
    np.testing.assert_allclose(written["accuracy"], corrected["accuracy"], rtol=1e-5)
    assert any("from_logits=True" in m for m in written_warnings)
    assert not any("from_logits" in m for m in corrected_warnings)
    assert written["loss"][0] < math.log(10)  # it learned something in one epoch


@pytest.mark.slow
def test_the_rescue_warning_is_a_user_warning(small):
    listing = LISTINGS["000"]
    model = listing.build(SHAPE, seed=0)
    x, y = small.x_train[:64], small.y_train[:64]
    with pytest.warns(UserWarning, match="from_logits=True"):
        training.train(model, x, listing.targets(y), seed=0)


@pytest.mark.slow
def test_mixed_bfloat16_loses_the_rescue():
    ds = data.load("fashion_mnist", n_train=2000, n_test=50)
    listing = LISTINGS["000"]
    floor = loss_floor(10)
    written_model, written, written_warnings = train_recording(listing, ds, corrected=False,
                                                               dtype_policy="mixed_bfloat16")
    corrected_model, corrected, _ = train_recording(listing, ds, corrected=True, dtype_policy="mixed_bfloat16")
    assert not any("from_logits" in m for m in written_warnings)
    # As written, the loss sees probabilities and applies softmax again: it cannot reach the floor.
    assert min(written["loss"]) >= floor - 1e-3
    written_now = written_model.evaluate(ds.x_train, ds.y_train, verbose=0)[0]
    assert written_now >= floor - 1e-3
    # That loss is the double-softmax cross-entropy of the model's own probabilities.
    p = np.asarray(written_model(ds.x_train, training=False)).astype(np.float32)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=2e-2)  # bfloat16 probabilities
    double = -np.log(softmax(p)[np.arange(len(p)), ds.y_train]).mean()
    assert written_now == pytest.approx(double, rel=1e-3)
    # Corrected, the same network and data go well below the floor.
    corrected_now = corrected_model.evaluate(ds.x_train, ds.y_train, verbose=0)[0]
    assert corrected_now < floor - 0.3
    assert written["loss"][-1] > corrected["loss"][-1] + 0.3
    assert written_now > corrected_now + 0.5


@pytest.mark.slow
def test_002_as_written_is_correct_one_hot_and_sparse_logits_agree(small):
    listing = LISTINGS["002"]
    written_model, written, written_warnings = train_recording(listing, small, corrected=False)
    _, corrected, _ = train_recording(listing, small, corrected=True)
    assert written_model.loss == "categorical_crossentropy"
    np.testing.assert_allclose(written["loss"], corrected["loss"], rtol=1e-5)
    np.testing.assert_allclose(written["accuracy"], corrected["accuracy"], rtol=1e-5)
    assert not any("from_logits" in m for m in written_warnings)
    assert written["loss"][0] < math.log(10)


def test_corrected_listing_keeps_its_logits_in_float32_under_mixed_precision():
    """Keras's mixed-precision guide: the output layer computes in float32. As written, every layer
    takes the policy (what a global policy does), which is what loses Keras's softmax repair."""
    for key in ("000", "001"):
        L = LISTINGS[key]
        written = L.build((28, 28, 1), dtype_policy="mixed_bfloat16")
        fixed = L.build((28, 28, 1), corrected=True, dtype_policy="mixed_bfloat16")
        x = np.zeros((2, 28, 28, 1), dtype="float32")
        assert keras.backend.standardize_dtype(written(x).dtype) == "bfloat16", key
        assert keras.backend.standardize_dtype(fixed(x).dtype) == "float32", key


def test_listings_scale_the_loss_under_mixed_float16_only():
    L = LISTINGS["004"]
    assert isinstance(L.build((28, 28, 1), dtype_policy="mixed_float16").optimizer, keras.optimizers.LossScaleOptimizer)
    assert not isinstance(L.build((28, 28, 1), dtype_policy="mixed_bfloat16").optimizer, keras.optimizers.LossScaleOptimizer)
    assert not isinstance(L.build((28, 28, 1)).optimizer, keras.optimizers.LossScaleOptimizer)
