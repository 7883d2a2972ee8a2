"""DRLTransformer: scikit-learn's estimator checks, pipelines and grid search over t, pickling.

The checks listed in NOT_APPLICABLE feed the transformer sklearn's generic toy data: 1-10 float
features per row with arbitrary values. An image encoder needs rows of exactly H*W*C pixels in
0-255 (integers) or [0, 1] (floats), so it rightly refuses that data and those checks cannot apply.
Each property they test is tested below on image data instead (the `test_image_*` tests).
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch
from conftest import synthetic_dataset, tiny_model
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from drlkit import DRLTransformer

TOY = "sklearn's toy data has a few float features per row, not H*W*C pixels in range"
NOT_APPLICABLE = {
    "check_fit_score_takes_y": TOY,
    "check_dtype_object": TOY + " (object arrays of random floats); see test_image_dtypes",
    "check_estimators_overwrite_params": TOY + "; see test_image_fit_keeps_params",
    "check_dont_overwrite_parameters": TOY + "; see test_image_fit_keeps_params",
    "check_estimators_fit_returns_self": TOY + "; see test_image_fit_keeps_params",
    "check_readonly_memmap_input": TOY + "; see test_image_layouts_and_memory_orders",
    "check_n_features_in_after_fitting": TOY + "; see test_image_feature_count_is_checked",
    "check_estimators_dtypes": TOY + "; see test_image_dtypes",
    "check_pipeline_consistency": TOY + "; see test_pipeline_and_grid_search_over_t",
    "check_estimators_pickle": TOY + "; see test_image_pickle_roundtrip",
    "check_f_contiguous_array_estimator": TOY + "; see test_image_layouts_and_memory_orders",
    "check_transformer_data_not_an_array": TOY + "; see test_image_layouts_and_memory_orders",
    "check_transformer_general": TOY + "; see test_image_fit_transform_equals_encode",
    "check_methods_sample_order_invariance": TOY + "; see test_image_order_and_subset_invariance",
    "check_methods_subset_invariance": TOY + "; see test_image_order_and_subset_invariance",
    "check_fit2d_1sample": TOY + " (one sample of 10 features is not an image)",
    "check_fit2d_1feature": TOY + " (one feature is not an image)",
    "check_dict_unchanged": TOY + "; see test_image_fit_keeps_params",
    "check_fit_idempotent": TOY + "; see test_image_fit_transform_equals_encode",
    "check_fit_check_is_fitted": TOY + "; see test_image_not_fitted",
    "check_n_features_in": TOY + "; see test_image_feature_count_is_checked",
    "check_estimators_nan_inf": TOY + " (it fits finite toy data first); see "
                                "test_bad_pixels_and_params_are_refused",
    "check_fit2d_predict1d": TOY + " (a 1-D row is not an image; 1-D input is refused)",
}

MODEL = tiny_model()  # image_size 16, 1 channel, latent_dim 8


@parametrize_with_checks([DRLTransformer(model=MODEL, t=0.5)],
                         expected_failed_checks=lambda est: NOT_APPLICABLE, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def images(n: int = 12, seed: int = 0) -> np.ndarray:
    return synthetic_dataset(n=n, seed=seed).images  # uint8 (n, 16, 16, 1)


def test_image_fit_transform_equals_encode():
    x = images()
    tr = DRLTransformer(model=MODEL, t=0.3)
    z = tr.fit_transform(x)
    assert z.dtype == np.float32 and z.shape == (12, 8)
    np.testing.assert_array_equal(z, MODEL.encode(x, t=0.3))
    np.testing.assert_array_equal(tr.fit(x).transform(x), z)  # refitting changes nothing
    multi = DRLTransformer(model=MODEL, t=[0.2, 0.8]).fit_transform(x)
    np.testing.assert_array_equal(multi, MODEL.encode(x, t=[0.2, 0.8]).reshape(12, 16))
    default = DRLTransformer(model=MODEL).fit_transform(x)  # the model's recommended t
    np.testing.assert_array_equal(default, MODEL.encode(x, t=MODEL.recommended_t))
    assert list(tr.get_feature_names_out()) == [f"drltransformer{i}" for i in range(8)]


def test_image_layouts_and_memory_orders(tmp_path):
    x = images()
    ref = MODEL.encode(x, t=0.5)
    tr = DRLTransformer(model=MODEL, t=0.5).fit(x)
    flat = x.reshape(12, -1)
    np.testing.assert_allclose(tr.transform(flat), ref, atol=1e-6)  # 2-D rows, HWC order
    np.testing.assert_allclose(tr.transform(x[..., 0]), ref, atol=1e-6)  # (N, H, W)
    np.testing.assert_allclose(tr.transform(np.asfortranarray(flat)), ref, atol=1e-6)
    np.testing.assert_allclose(tr.transform(flat.tolist()), ref, atol=1e-6)  # not an array
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.uint8, shape=x.shape)
    mm[:] = x
    mm.flush()
    ro = np.load(tmp_path / "x.npy", mmap_mode="r")
    np.testing.assert_allclose(tr.transform(ro), ref, atol=1e-6)
    paths = []
    from PIL import Image

    for i, img in enumerate(x):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(img[..., 0]).save(paths[-1])
    np.testing.assert_allclose(DRLTransformer(model=MODEL, t=0.5).fit_transform(paths), ref,
                               atol=1e-6)


def test_image_dtypes():
    x = images()
    ref = DRLTransformer(model=MODEL, t=0.5).fit_transform(x)
    for arr in (x.astype(np.int64), x.astype(np.float64) / 255, x.astype(np.float32) / 255):
        z = DRLTransformer(model=MODEL, t=0.5).fit_transform(arr)
        assert z.dtype == np.float32
        np.testing.assert_allclose(z, ref, atol=1e-5)


def test_image_order_and_subset_invariance():
    x = images(20)
    tr = DRLTransformer(model=MODEL, t=0.5, batch_size=3).fit(x)
    z = tr.transform(x)
    perm = np.random.default_rng(0).permutation(20)
    np.testing.assert_allclose(tr.transform(x[perm]), z[perm], atol=1e-6)
    np.testing.assert_allclose(tr.transform(x[5:9]), z[5:9], atol=1e-6)


def test_image_feature_count_is_checked():
    x = images()
    tr = DRLTransformer(model=MODEL, t=0.5).fit(x)
    assert tr.n_features_in_ == 16 * 16
    with pytest.raises(ValueError, match="expecting 256 features"):
        tr.transform(np.zeros((2, 20, 20), np.uint8))
    with pytest.raises(ValueError, match="image_shape"):
        DRLTransformer(model=MODEL).fit(np.zeros((2, 100), np.uint8))
    # rows of another size are fine with their shape given: converted like encode converts
    z = DRLTransformer(model=MODEL, t=0.5, image_shape=(8, 8, 3)).fit_transform(
        np.full((2, 192), 200, np.uint8))
    np.testing.assert_allclose(z, MODEL.encode(np.full((2, 8, 8, 3), 200, np.uint8), t=0.5),
                               atol=1e-6)


def test_bad_pixels_and_params_are_refused():
    x = images()
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        DRLTransformer(model=MODEL).fit(x.astype(np.float32))  # 0-255 floats
    with pytest.raises(ValueError, match="Negative"):
        DRLTransformer(model=MODEL).fit(x.astype(np.int64) - 1)
    with pytest.raises(ValueError, match="0-255"):
        DRLTransformer(model=MODEL).fit(x.astype(np.int64) * 2)
    with pytest.raises(ValueError, match="NaN"):
        DRLTransformer(model=MODEL).fit(np.full((2, 16, 16), np.nan))
    with pytest.raises(ValueError, match="infinity"):
        DRLTransformer(model=MODEL).fit(x).transform(np.full((2, 16, 16), np.inf))
    with pytest.raises(ValueError, match="t"):
        DRLTransformer(model=MODEL, t=1.5).fit(x)
    with pytest.raises(ValueError, match="batch_size"):
        DRLTransformer(model=MODEL, batch_size=0).fit(x)
    with pytest.raises(TypeError, match="registry name"):
        DRLTransformer(model=3).fit(x)


def test_image_not_fitted():
    with pytest.raises(NotFittedError):
        DRLTransformer(model=MODEL).transform(images())


def test_image_fit_keeps_params():
    x = images()
    tr = DRLTransformer(model=MODEL, t=[0.1, 0.9], batch_size=5, image_shape=None)
    before = {k: copy.deepcopy(v) for k, v in tr.get_params().items() if k != "model"}
    assert tr.fit(x) is tr
    assert {k: v for k, v in tr.get_params().items() if k != "model"} == before
    assert tr.get_params()["model"] is MODEL  # the caller's model object, not a copy
    state = dict(tr.__dict__)
    tr.transform(x)
    assert tr.__dict__ == state


def test_image_pickle_roundtrip():
    x = images()
    tr = DRLTransformer(model=MODEL, t=0.4).fit(x)
    back = pickle.loads(pickle.dumps(tr))
    np.testing.assert_array_equal(back.transform(x), tr.transform(x))
    assert back.model_ is not tr.model_ and back.get_params()["t"] == 0.4
    unfitted = pickle.loads(pickle.dumps(DRLTransformer(model="mnist", t=0.5)))
    assert not hasattr(unfitted, "model_") and unfitted.model == "mnist"


def test_clone_is_unfitted_with_equal_params():
    tr = DRLTransformer(model=MODEL, t=0.4).fit(images())
    c = clone(tr)
    assert not hasattr(c, "model_") and c.get_params()["t"] == 0.4
    np.testing.assert_array_equal(c.fit_transform(images()), tr.transform(images()))


def test_pipeline_and_grid_search_over_t():
    ds = synthetic_dataset(n=60, seed=0)
    pipe = Pipeline([("drl", DRLTransformer(model=MODEL)), ("clf", LogisticRegression())])
    search = GridSearchCV(pipe, {"drl__t": [0.1, 0.5, (0.1, 0.9)]}, cv=3).fit(ds.images, ds.labels)
    assert search.best_params_["drl__t"] in (0.1, 0.5, (0.1, 0.9))
    assert len(search.cv_results_["mean_test_score"]) == 3
    test = synthetic_dataset(n=40, seed=1)
    assert search.score(test.images, test.labels) > 0.8  # left/right blobs: random codes suffice
    cv = cross_val_score(make_pipeline(DRLTransformer(model=MODEL, t=0.5), LogisticRegression()),
                         ds.images, ds.labels, cv=3)
    assert cv.shape == (3,) and cv.mean() > 0.8


def test_registry_model_by_name():
    x = np.zeros((3, 28, 28), np.uint8)
    tr = DRLTransformer(model="mnist", t=0.9, device="cpu").fit(x)
    assert tr.transform(x).shape == (3, 128)
    assert tr.model_.device == torch.device("cpu")


def test_default_batch_is_the_models_fast_batch(monkeypatch):
    from drlkit.model import DRLModel, default_batch_size

    x = images(5)
    tr = DRLTransformer(model=MODEL, t=0.5).fit(x)
    assert tr.batch_size is None
    seen = []
    real = DRLModel.encode

    def encode(self, images, *args, **kwargs):
        seen.append(kwargs.get("batch_size"))
        return real(self, images, *args, **kwargs)

    monkeypatch.setattr(DRLModel, "encode", encode)
    tr.transform(x)
    assert seen == [None]  # encode then uses default_batch_size(device): 64 on CPU
    assert default_batch_size(tr.model_.device) == 64
