"""The estimators in scikit-learn's workflows, and their own behaviour."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from chainrule.network import Network
from chainrule.sklearn import (
    ChainRuleClassifier,
    ChainRuleRegressor,
    FitDivergenceError,
)
from chainrule.training import DivergenceError


def small_classifier(**options):
    settings = dict(hidden_layer_sizes=(16,), epochs=30, batch_size=16)
    settings.update(options)
    return ChainRuleClassifier(random_state=0, **settings)


def small_regressor(**options):
    settings = dict(hidden_layer_sizes=(16,), epochs=30, batch_size=16)
    settings.update(options)
    return ChainRuleRegressor(random_state=0, **settings)


@pytest.fixture(scope="module")
def iris():
    x, y = load_iris(return_X_y=True)
    return train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)


def test_pipeline_with_scaler_learns_iris(iris):
    x_train, x_test, y_train, y_test = iris
    model = make_pipeline(StandardScaler(), small_classifier())
    model.fit(x_train, y_train)

    # Iris is nearly linearly separable once scaled: a 16-unit network
    # reaches well above 0.9 test accuracy in 30 epochs.
    assert model.score(x_test, y_test) >= 0.9
    probabilities = model.predict_proba(x_test)
    assert probabilities.shape == (len(x_test), 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_cross_val_score_on_iris(iris):
    x_train, _, y_train, _ = iris
    model = make_pipeline(StandardScaler(), small_classifier())
    scores = cross_val_score(model, x_train, y_train, cv=3)
    assert scores.shape == (3,)
    assert scores.min() >= 0.8


def test_grid_search_tunes_constructor_options(iris):
    x_train, _, y_train, _ = iris
    model = make_pipeline(StandardScaler(), small_classifier())
    grid = {
        "chainruleclassifier__hidden_layer_sizes": [(4,), (16, 16)],
        "chainruleclassifier__learning_rate": [0.01, 0.05],
    }
    search = GridSearchCV(model, grid, cv=2).fit(x_train, y_train)
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_[-1]
    assert best.network_.sizes[1:-1] == list(best.get_params()["hidden_layer_sizes"])


def test_string_labels_come_back_as_given(iris):
    x_train, x_test, y_train, _ = iris
    names = np.array(["setosa", "versicolor", "virginica"])
    model = make_pipeline(StandardScaler(), small_classifier())
    model.fit(x_train, names[y_train])
    assert list(model[-1].classes_) == list(names)
    assert set(model.predict(x_test)) <= set(names)


def test_learned_attributes_describe_the_fit(iris):
    x_train, _, y_train, _ = iris
    model = small_classifier(hidden_layer_sizes=(5, 6), epochs=7)
    model.fit(x_train, y_train)
    assert isinstance(model.network_, Network)
    assert model.network_.sizes == [4, 5, 6, 3]
    assert model.network_.dtype == np.float32
    assert model.n_features_in_ == 4
    assert model.n_iter_ == 7
    assert len(model.loss_curve_) == 7
    # SGD on unscaled iris still brings the loss down from its start.
    assert model.loss_curve_[-1] < model.loss_curve_[0]


def test_dtype_float64_and_relu_option_reach_the_network(iris):
    x_train, _, y_train, _ = iris
    model = small_classifier(dtype="float64", relu_derivative_at_zero=0.0)
    model.fit(x_train, y_train)
    assert model.network_.dtype == np.float64
    assert model.network_.relu_derivative_at_zero == 0.0


def test_same_random_state_same_network(iris):
    x_train, _, y_train, _ = iris
    first = small_classifier(epochs=3).fit(x_train, y_train)
    second = small_classifier(epochs=3).fit(x_train, y_train)
    # The same seed draws the same weights and the same shuffles, and the
    # arithmetic is deterministic: the parameters agree exactly.
    np.testing.assert_array_equal(first.network_.parameters, second.network_.parameters)


def test_partial_fit_continues_where_it_stopped(iris):
    x_train, _, y_train, _ = iris
    model = small_classifier()
    with pytest.raises(ValueError, match="classes="):
        model.partial_fit(x_train, y_train)
    model.partial_fit(x_train, y_train, classes=[0, 1, 2])
    after_one = model.network_.parameters.copy()
    model.partial_fit(x_train[:20], y_train[:20])
    assert model.n_iter_ == 2
    assert len(model.loss_curve_) == 2
    assert not np.array_equal(after_one, model.network_.parameters)
    with pytest.raises(ValueError, match="not in classes_"):
        model.partial_fit(x_train[:3], np.array([0, 1, 7]))


def test_partial_fit_matches_fit_epoch_by_epoch(iris):
    # fit runs its epochs through the same loop with the same generator,
    # so three partial_fit calls reproduce a three-epoch fit exactly.
    x_train, _, y_train, _ = iris
    fitted = small_classifier(epochs=3).fit(x_train, y_train)
    stepped = small_classifier()
    for _ in range(3):
        stepped.partial_fit(x_train, y_train, classes=[0, 1, 2])
    np.testing.assert_array_equal(
        fitted.network_.parameters, stepped.network_.parameters
    )


def test_pickle_round_trip_keeps_predictions(iris):
    x_train, x_test, y_train, _ = iris
    model = small_classifier().fit(x_train, y_train)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(
        restored.predict_proba(x_test), model.predict_proba(x_test)
    )


def test_regressor_in_a_pipeline_on_diabetes():
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0)
    regressor = small_regressor(epochs=10, learning_rate=0.005)
    model = make_pipeline(StandardScaler(), regressor)
    model.fit(x_train, y_train)
    # Linear regression scores 0.36 R² on this split; a small ReLU network
    # trained briefly lands near it (0.33 measured), far above 0.
    assert model.score(x_test, y_test) >= 0.25
    assert model.predict(x_test).shape == (len(x_test),)


def test_regressor_raw_targets_need_standardization():
    x, y = make_regression(n_samples=200, n_features=4, noise=1.0, random_state=0)
    y = 1000.0 + 300.0 * y
    fitted = small_regressor(epochs=60).fit(x, y)
    assert fitted.score(x, y) >= 0.9
    assert fitted.target_standardizer_ is not None


def test_regressor_multiple_targets():
    x, y = make_regression(
        n_samples=200, n_features=4, n_targets=3, noise=1.0, random_state=0
    )
    model = small_regressor(epochs=60).fit(x, y)
    assert model.n_outputs_ == 3
    assert model.network_.sizes[-1] == 3
    assert model.predict(x).shape == (200, 3)
    assert model.score(x, y) >= 0.9


@pytest.mark.parametrize(
    ("option", "value", "error", "message"),
    [
        ("hidden_layer_sizes", (4, 0), ValueError, "at least 1 unit"),
        ("hidden_layer_sizes", (4.5,), TypeError, "whole numbers"),
        ("dtype", "float16", ValueError, "float32"),
        ("epochs", 0, ValueError, "epochs"),
        ("momentum", 1.0, ValueError, "momentum"),
        ("learning_rate", -1.0, ValueError, "learning_rate"),
        ("random_state", "seed", TypeError, "random_state"),
    ],
)
def test_bad_options_are_named_at_fit(iris, option, value, error, message):
    x_train, _, y_train, _ = iris
    model = small_classifier().set_params(**{option: value})
    with pytest.raises(error, match=message):
        model.fit(x_train, y_train)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_row_at_a_time_matches_the_batch(dtype):
    # What the float32 estimator checks cannot demand at 1e-7: single-row
    # predictions agree with the batch to the dtype's rounding, 1e-5
    # relative for float32 (eps 1.2e-7, a few dozen roundings) and 1e-12
    # for float64.
    x, y = make_regression(n_samples=64, n_features=5, random_state=1)
    model = small_regressor(dtype=dtype, epochs=5).fit(x, y)
    batch = model.predict(x)
    one_by_one = np.concatenate([model.predict(row[None, :]) for row in x])
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(one_by_one, batch, rtol=tolerance, atol=tolerance)


def test_log_probabilities_stay_finite_when_confident(iris):
    x_train, _, y_train, _ = iris
    model = small_classifier(dtype="float64").fit(x_train, y_train)
    # Far outside the data the logits are large and some probabilities
    # round to 0; their logarithms must still be finite.
    far = 1e4 * np.ones((3, 4))
    log_probabilities = model.predict_log_proba(far)
    assert np.all(np.isfinite(log_probabilities))
    near = x_train[:10]
    np.testing.assert_allclose(
        np.exp(model.predict_log_proba(near)),
        model.predict_proba(near),
        rtol=1e-12,
        atol=0,
    )


def test_one_class_is_refused_as_scikit_learn_classifiers_do(iris):
    """One class: a ValueError naming it, not a classifier that says 1.

    scikit-learn's check_classifiers_one_label accepts a ValueError whose
    message matches "class"; silently fitting gave predict_proba 1 for
    everything.
    """
    x_train, _, _, _ = iris
    one_class = np.zeros(len(x_train))
    with pytest.raises(ValueError, match=r"one class \(0\.0\).*at least 2 classes"):
        small_classifier(epochs=1).fit(x_train, one_class)
    unfitted = small_classifier()
    with pytest.raises(ValueError, match="at least 2 classes"):
        unfitted.partial_fit(x_train, one_class, classes=[0.0])
    assert not hasattr(unfitted, "classes_")


def test_divergence_on_raw_inputs_says_to_standardize():
    """Unscaled iris features diverge at the default rate; the error says why.

    FitDivergenceError is a ValueError, as scikit-learn reports data an
    estimator cannot fit, and still the DivergenceError of the core with
    its epoch, step and layer.
    """
    x, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="StandardScaler") as caught:
        ChainRuleRegressor(epochs=2, random_state=0).fit(x, y)
    error = caught.value
    assert isinstance(error, FitDivergenceError)
    assert isinstance(error, DivergenceError)
    assert "learning_rate" in str(error) and "\n" not in str(error)
    assert error.epoch is not None and error.layer is not None
