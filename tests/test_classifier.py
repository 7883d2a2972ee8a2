"""DRLClassifier (issue 41): fine-tuning from few labels, scikit-learn's checks, files, resume,
bad input, and the `drlkit finetune` / `drlkit predict` commands.

As for DRLTransformer (tests/test_transformer.py), the checks in NOT_APPLICABLE feed sklearn's
toy data (a few float features per row, any values), which an image classifier rightly refuses;
each property they test is tested below on images instead.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import synthetic_dataset, tiny_model
from PIL import Image
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

import drlkit
from drlkit import DRLClassifier
from drlkit.checkpoint import CheckpointError, read_header, save_model, update_card
from drlkit.cli import cli
from drlkit.finetune import Finetuner
from drlkit.graph import certainty_of, propagate
from drlkit.labels import draw_labels
from drlkit.metrics import balanced_subset, val_split

TOY = "sklearn's toy data has a few float features per row, not H*W*C pixels in range"
NOT_APPLICABLE = {
    "check_fit_score_takes_y": TOY,
    "check_estimators_overwrite_params": TOY + "; see test_fit_keeps_params_and_is_deterministic",
    "check_dont_overwrite_parameters": TOY + "; see test_fit_keeps_params_and_is_deterministic",
    "check_estimators_fit_returns_self": TOY + "; see test_fit_keeps_params_and_is_deterministic",
    "check_readonly_memmap_input": TOY + "; see test_predictions_are_per_image",
    "check_n_features_in_after_fitting": TOY + "; see test_bad_input_is_refused",
    "check_n_features_in": TOY + "; see test_bad_input_is_refused",
    "check_estimators_dtypes": TOY + "; see test_fit_predict_on_images",
    "check_dtype_object": TOY + " (object arrays of random floats)",
    "check_pipeline_consistency": TOY + "; see test_pipeline_and_cross_val_score",
    "check_estimators_nan_inf": TOY + " (it fits finite toy data first); see "
                                "test_bad_input_is_refused",
    "check_estimators_pickle": TOY + "; see test_save_load_and_pickle",
    "check_f_contiguous_array_estimator": TOY + "; see test_predictions_are_per_image",
    "check_classifier_data_not_an_array": TOY + "; see test_fit_predict_on_images (paths)",
    "check_classifiers_classes": TOY + "; see test_string_labels_and_unlabelled_marker",
    "check_classifiers_train": TOY + "; see test_fit_predict_on_images",
    "check_supervised_y_2d": TOY + "; a 2-D y is refused (test_bad_input_is_refused)",
    "check_methods_sample_order_invariance": TOY + "; see test_predictions_are_per_image",
    "check_methods_subset_invariance": TOY + "; see test_predictions_are_per_image",
    "check_fit2d_1feature": TOY + " (one feature is not an image)",
    "check_dict_unchanged": TOY + "; see test_fit_keeps_params_and_is_deterministic",
    "check_fit_idempotent": TOY + "; see test_fit_keeps_params_and_is_deterministic",
    "check_fit_check_is_fitted": TOY + "; see test_not_fitted",
    "check_fit2d_predict1d": TOY + " (a 1-D row is not an image)",
}

MODEL = tiny_model()  # image_size 16, 1 channel, latent_dim 8
DATA = synthetic_dataset(n=64)  # two classes of blobs, uint8 (64, 16, 16, 1)
X, Y = DATA.images, DATA.labels
FEW = np.where(np.arange(64) < 8, Y, -1)  # 8 labelled images, 4 per class
CARD = {"description": "tiny", "preprocessing": {}, "training": {}, "data": "synthetic",
        "budget": {}, "recommended_t": 0.5, "metrics": {}}


def small(**kw) -> DRLClassifier:
    # supervised_epochs=0: laplacenet propagates from the first epoch, so one-epoch fits test it
    opts = {"model": MODEL, "epochs": 2, "supervised_epochs": 0, "batch_size": 16, "k": 5,
            "random_state": 0, "progress": False}
    return DRLClassifier(**{**opts, **kw})


@parametrize_with_checks([DRLClassifier(model=MODEL, epochs=1, supervised_epochs=0, batch_size=8,
                                        k=3, progress=False, random_state=0)],
                         expected_failed_checks=lambda est: NOT_APPLICABLE, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("method", ["laplacenet", "supervised"])
@pytest.mark.parametrize("backbone", ["encoder", "denoiser"])
def test_fit_predict_on_images(method, backbone):
    clf = small(method=method, backbone=backbone).fit(X, FEW, y_true=Y)
    proba = clf.predict_proba(X)
    assert proba.shape == (64, 2) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert list(clf.classes_) == [0, 1]
    assert clf.score(X, Y) > 0.8  # the blobs are easy: a broken head or label mix-up fails
    assert len(clf.history_) == 2 and all(h["images_per_s"] > 0 for h in clf.history_)
    if method == "laplacenet":
        assert all(0 <= h["pseudo_label_accuracy"] <= 1 and h["graph_s"] >= 0
                   for h in clf.history_)
    # the other network is untouched: the backbone is the only part fine-tuned
    other = "score_net" if backbone == "encoder" else "encoder"
    for (k, a), b in zip(getattr(MODEL, other).state_dict().items(),
                         getattr(clf.net_.model, other).state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    tuned = "encoder" if backbone == "encoder" else "score_net"
    assert any(not torch.equal(a, b) for a, b in zip(
        getattr(MODEL, tuned).state_dict().values(),
        getattr(clf.net_.model, tuned).state_dict().values(), strict=True))
    # float images and uint8 images of the same pixels predict alike
    np.testing.assert_allclose(clf.predict_proba(X.astype(np.float32) / 255), proba, atol=1e-5)


def test_supervised_initialisation_trains_on_labels_before_propagating(monkeypatch, tmp_path):
    import drlkit.finetune

    calls, batches = [], []
    propagate_ = drlkit.finetune.propagate
    step = Finetuner._step

    def counted(*a, **kw):
        calls.append(1)
        return propagate_(*a, **kw)

    def recorded(self, idx, *a, **kw):
        batches.append(idx.clone())
        return step(self, idx, *a, **kw)

    monkeypatch.setattr(drlkit.finetune, "propagate", counted)
    monkeypatch.setattr(Finetuner, "_step", recorded)
    clf = small(epochs=3, supervised_epochs=2).fit(X, FEW, y_true=Y)
    first, last = clf.history_[:2], clf.history_[2]
    assert not any("graph_s" in h or "pseudo_label_accuracy" in h for h in first)
    assert "graph_s" in last and 0 <= last["pseudo_label_accuracy"] <= 1 and len(calls) == 1
    per_epoch = len(batches) // 3
    assert len(batches) == 3 * per_epoch  # the same steps in every epoch
    # supervised epochs: whole batches of the 8 labelled images; then a quarter of each batch
    # labelled, the rest one pass over all 64 images with their pseudo-labels
    assert all(len(b) == 16 and (b < 8).all() for b in batches[:2 * per_epoch])
    last_epoch = batches[2 * per_epoch:]
    assert all((b[:4] < 8).all() for b in last_epoch)
    assert sorted(torch.cat([b[4:] for b in last_epoch]).tolist()) == list(range(64))
    assert clf.score(X, Y) > 0.8
    clf.save(tmp_path / "clf.safetensors")
    assert DRLClassifier.load(tmp_path / "clf.safetensors").get_params()["supervised_epochs"] == 2
    # it changes the fit, and 0 is laplacenet from the first epoch
    assert not np.array_equal(small(epochs=3).fit(X, FEW).predict_proba(X), clf.predict_proba(X))
    # the default is one supervised epoch (measured: docs/benchmarks/finetune.md)
    default = DRLClassifier(model=MODEL, epochs=2, batch_size=16, k=5, random_state=0,
                            progress=False).fit(X, FEW, y_true=Y)
    assert "graph_s" not in default.history_[0] and "graph_s" in default.history_[1]


def test_fit_predict_on_paths(tmp_path):
    paths = []
    for i, img in enumerate(X[:16]):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(img[..., 0]).save(paths[-1])
    clf = small(epochs=1).fit(paths, FEW[:16])
    np.testing.assert_allclose(clf.predict_proba(paths), clf.predict_proba(X[:16]), atol=1e-6)
    (tmp_path / "bad.png").write_text("not an image")
    proba, skipped = clf.predict_proba([*paths[:2], tmp_path / "bad.png"], on_error="skip")
    assert proba.shape == (2, 2) and skipped[0][0] == tmp_path / "bad.png"


def test_fit_keeps_params_and_is_deterministic():
    clf = small()
    params = clf.get_params()
    assert clf.fit(X, FEW) is clf
    assert clf.get_params() == params
    again = clone(clf).fit(X, FEW)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    other = clone(clf).set_params(random_state=1).fit(X, FEW)
    assert not np.array_equal(other.predict_proba(X), clf.predict_proba(X))


def test_predictions_are_per_image():
    clf = small(epochs=1).fit(X, FEW)
    ref = clf.predict_proba(X)
    np.testing.assert_allclose(clf.predict_proba(X[::-1]), ref[::-1], atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X[5:9]), ref[5:9], atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(X, batch_size=3), ref, atol=1e-6)
    np.testing.assert_allclose(clf.predict_proba(np.asfortranarray(X.reshape(64, -1))), ref,
                               atol=1e-6)


def test_string_labels_and_unlabelled_marker():
    names = np.array(["left", "right"], dtype=object)[Y]
    y = np.where(FEW >= 0, names, -1).astype(object)
    clf = small(epochs=1).fit(X, y)
    assert list(clf.classes_) == ["left", "right"]
    assert set(clf.predict(X)) <= {"left", "right"}
    assert clf.score(X, names) > 0.8


def test_not_fitted():
    with pytest.raises(NotFittedError):
        small().predict(X)
    with pytest.raises(NotFittedError):
        small().save("never.safetensors")


def test_save_load_and_pickle(tmp_path):
    clf = small(backbone="denoiser", epochs=1).fit(X, FEW)
    path = tmp_path / "clf.safetensors"
    clf.save(path, metrics={"test_accuracy": 0.5})
    back = DRLClassifier.load(path)
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))  # bit for bit
    assert back.metrics_ == {"test_accuracy": 0.5} and back.backbone == "denoiser"
    assert back.labels_ == clf.labels_ and clf.labels_["per_class"] == [4, 4]
    assert clf.labels_["n_images"] == 64 and clf.labels_["n_labelled"] == 8
    assert back.get_params()["supervised_epochs"] == 0
    # a file from before supervised_epochs existed propagated from the first epoch: it reads as 0
    older = tmp_path / "older.safetensors"
    older.write_bytes(path.read_bytes())
    entry = read_header(older)["classifier"]
    del entry["options"]["supervised_epochs"]
    update_card(older, classifier=entry)
    assert DRLClassifier.load(older).get_params()["supervised_epochs"] == 0
    model = drlkit.load(path)  # still a model: its encoder encodes
    np.testing.assert_array_equal(model.encode(X[:4], t=0.5), clf.net_.model.encode(X[:4], t=0.5))
    assert model.card["classifier"]["classes"] == [0, 1]
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X),
                                  clf.predict_proba(X))
    short = tmp_path / "short.safetensors"
    short.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated"):
        DRLClassifier.load(short)
    plain = tmp_path / "plain.safetensors"
    save_model(MODEL, plain, CARD)
    with pytest.raises(CheckpointError, match="not a DRLClassifier file"):
        DRLClassifier.load(plain)
    with pytest.raises(CheckpointError, match="no such file"):
        DRLClassifier.load(tmp_path / "missing.safetensors")


def test_resume_after_an_interrupt_equals_an_uninterrupted_fit(tmp_path, monkeypatch):
    whole = small(epochs=3).fit(X, FEW)
    run = small(epochs=3, checkpoint_dir=tmp_path / "state")
    epoch = Finetuner.epoch

    def stop_at_third(self, e):
        if e == 2:
            raise KeyboardInterrupt
        return epoch(self, e)

    monkeypatch.setattr(Finetuner, "epoch", stop_at_third)
    with pytest.raises(KeyboardInterrupt):
        run.fit(X, FEW)
    monkeypatch.setattr(Finetuner, "epoch", epoch)
    with pytest.raises(ValueError, match="resume=True"):
        run.fit(X, FEW)  # a state is there: never overwritten silently
    run.set_params(resume=True).fit(X, FEW)
    assert run.resumed_from_ == 2 and len(run.history_) == 3
    np.testing.assert_array_equal(run.predict_proba(X), whole.predict_proba(X))
    with pytest.raises(ValueError, match="another fit"):
        small(epochs=3, checkpoint_dir=tmp_path / "state", resume=True).fit(X, np.where(
            np.arange(64) < 10, Y, -1))


def test_bad_input_is_refused():
    cases = [
        (np.full(64, -1), "every image is unlabelled"),
        (np.where(np.arange(64) < 8, 0, -1), "all of one class"),
        (np.where(np.arange(64) < 8, 0.5, -1.0), "continuous"),
        (FEW[:10], "64 images but y has 10"),
        (FEW.reshape(32, 2), "1-D"),
        (np.array(["a", "b"] * 32), "object array"),
    ]
    for y, match in cases:
        with pytest.raises(ValueError, match=match):
            small().fit(X, y)
    with pytest.raises(ValueError, match="1 channel"):
        small(model=tiny_model(channels=3)).fit(X, FEW)
    with pytest.raises(drlkit.UnknownModelError):
        small(model="no-such-model").fit(X, FEW)
    with pytest.raises(ValueError, match="random init"):
        small(model=None).fit(X, FEW)
    with pytest.raises(ValueError, match="method"):
        small(method="magic").fit(X, FEW)
    with pytest.raises(ValueError, match=r"supervised_epochs \(2\) must be below epochs \(2\)"):
        small(supervised_epochs=2).fit(X, FEW)
    with pytest.raises(ValueError, match="pass supervised_epochs=0"):  # the default and 1 epoch
        DRLClassifier(model=MODEL, epochs=1).fit(X, FEW)
    with pytest.raises(ValueError, match="supervised_epochs must be an integer >= 0"):
        small(supervised_epochs=-1).fit(X, FEW)
    with pytest.raises(ValueError, match="one noise level"):
        small(t=[0.1, 0.2]).fit(X, FEW)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        small(resume=True).fit(X, FEW)
    with pytest.raises(ValueError, match="denoiser"):  # an AE has no score net
        small(model=tiny_model(objective="ae", t_conditioned=False), backbone="denoiser").fit(X, FEW)
    clf = small(epochs=1).fit(X, FEW)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X.reshape(64, -1)[:, :100])
    with pytest.raises(ValueError, match="Negative"):
        clf.predict(-X.astype(np.float32))
    with pytest.raises(ValueError):
        clf.predict(np.full((2, 16, 16), np.nan, dtype=np.float32))


def test_random_init_from_a_config():
    clf = small(model=None, config=MODEL.config, epochs=1).fit(X, FEW)
    assert clf.init_["random_init"] and clf.predict(X).shape == (64,)
    with pytest.raises(ValueError, match="config= is the architecture"):
        small(config=MODEL.config).fit(X, FEW)


def test_pipeline_and_cross_val_score():
    pipe = make_pipeline(small(epochs=1))
    scores = cross_val_score(pipe, X, Y, cv=2)
    assert scores.shape == (2,) and (scores > 0.6).all()


def test_propagation_labels_two_clusters():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (100, 5)) + 3, rng.normal(0, 1, (100, 5)) - 3])
    truth = np.repeat([0, 1], 100)
    codes = np.full(200, -1)
    codes[[0, 1, 100, 101]] = truth[[0, 1, 100, 101]]
    pl = propagate(x, codes, 2, k=10)
    assert (pl.labels == truth).mean() > 0.95
    assert pl.certainty[[0, 1, 100, 101]].tolist() == [1, 1, 1, 1]
    assert ((0 <= pl.certainty) & (pl.certainty <= 1)).all()
    np.testing.assert_allclose(pl.class_weight, 200 / (2 * np.bincount(pl.labels)), rtol=1e-6)
    with pytest.raises(ValueError, match="labelled"):
        propagate(x, np.full(200, -1), 2)


def test_certainty_is_eq11_rescaled_to_the_most_certain_row():
    # 1 - H / log C of each row, divided by the largest (the authors' code, LP-DeepSSL)
    z = np.array([[0.55, 0.45], [0.6, 0.4], [0.0, 0.0]])
    p, certainty = certainty_of(z)

    def eq11(q):
        return 1 + (q * np.log(q)).sum() / np.log(2)

    raw = np.array([eq11(np.array([0.55, 0.45])), eq11(np.array([0.6, 0.4]))])
    np.testing.assert_allclose(certainty, [raw[0] / raw[1], 1.0, 0.0])
    np.testing.assert_allclose(p, [[0.55, 0.45], [0.6, 0.4], [0.5, 0.5]])
    p, certainty = certainty_of(np.array([[-0.1, 0.3], [0.5, 0.5]]))  # negatives clipped
    np.testing.assert_allclose(p, [[0, 1], [0.5, 0.5]])
    np.testing.assert_allclose(certainty, [1, 0], atol=1e-12)
    assert raw[1] < 0.03  # diffuse rows: unscaled, every weight would be tiny


def test_draw_labels_are_the_frozen_protocols_draws():
    labels = np.repeat(np.arange(4), 50)
    y = draw_labels(labels, 20, draw=3)
    assert (y >= 0).sum() == 20 and np.bincount(y[y >= 0]).tolist() == [5] * 4
    pool, val = val_split(labels)
    assert (y[val] == -1).all()
    # the labels of few_label's and semi_supervised's 4th draw (seed 0), image for image
    same = balanced_subset(labels, pool, 20, np.random.default_rng([0, 20, 3]))
    np.testing.assert_array_equal(np.flatnonzero(y >= 0), same)
    assert not np.array_equal(y, draw_labels(labels, 20, draw=4))


def _folders(tmp_path):
    lab, unl = tmp_path / "lab", tmp_path / "unl"
    for i, img in enumerate(X[:24]):
        d = lab / ("left", "right")[Y[i]] if i < 8 else unl
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[..., 0]).save(d / f"{i}.png")
    (unl / "bad.png").write_text("not an image")
    return lab, unl


def test_cli_finetune_and_predict(tmp_path):
    model = tmp_path / "tiny.safetensors"
    save_model(MODEL, model, CARD)
    lab, unl = _folders(tmp_path)
    out = tmp_path / "clf.safetensors"
    run = CliRunner().invoke(cli, ["finetune", "--labelled", str(lab), "--unlabelled", str(unl),
                                   "--model", str(model), "--epochs", "1", "--supervised-epochs",
                                   "0", "--batch-size", "8", "--quiet", "-o", str(out)])
    assert run.exit_code == 0, run.output
    assert "8 labelled images in 2 classes; 16 unlabelled" in run.output
    assert "skipped 1 files" in run.output and out.is_file()
    assert not (tmp_path / "clf.safetensors.state").exists()
    preds = tmp_path / "preds.csv"
    run = CliRunner().invoke(cli, ["predict", str(unl), "--model", str(out), "-o", str(preds),
                                   "--quiet"])
    assert run.exit_code == 0, run.output
    rows = preds.read_text().splitlines()
    assert rows[0] == "path,class,probability" and len(rows) == 17
    assert all(r.split(",")[1] in ("left", "right") and 0.5 <= float(r.split(",")[2]) <= 1
               for r in rows[1:])
    assert "bad.png\tnot an image" in (tmp_path / "preds.skipped.txt").read_text()
    clf = DRLClassifier.load(out)
    first = rows[1].split(",")
    img = np.asarray(Image.open(first[0]))[..., None]
    assert clf.predict(img[None])[0] == first[1]


def test_cli_mistakes_are_one_line(tmp_path):
    lab, unl = _folders(tmp_path)
    trunc = tmp_path / "t.safetensors"
    trunc.write_bytes(b"\x00" * 20)
    runner = CliRunner()
    for args, words in [
        (["predict", str(unl), "--model", str(trunc), "-o", str(tmp_path / "p.csv")],
         "not a safetensors file"),
        (["predict", str(unl), "--model", str(trunc), "-o", str(tmp_path / "p.txt")], ".csv"),
        (["finetune", "--data", "mnist", "-o", str(tmp_path / "c.safetensors")], "--labels"),
        (["finetune", "-o", str(tmp_path / "c.safetensors")], "give the labels"),
        (["finetune", "--labelled", str(unl), "-o", str(tmp_path / "c.safetensors")],
         "class sub-folders"),
        (["finetune", "--labelled", str(lab), "-o", str(tmp_path / "c.pt")], ".safetensors"),
        (["finetune", "--labelled", str(lab), "--epochs", "2", "--supervised-epochs", "2", "-o",
          str(tmp_path / "c.safetensors")], "not below --epochs (2)"),
        (["finetune", "--labelled", str(lab), "--epochs", "1", "-o",
          str(tmp_path / "c.safetensors")], "--supervised-epochs 0"),
        (["finetune", "--labelled", str(lab), "--model", "nope", "-o",
          str(tmp_path / "c.safetensors")], "nope"),
    ]:
        res = runner.invoke(cli, args)
        assert res.exit_code != 0 and "Traceback" not in res.output, (args, res.output)
        assert words in res.output, (args, res.output)
    assert not list(tmp_path.glob("c.*")) and not (tmp_path / "p.csv").exists()


def test_cli_finetune_from_a_dataset_scores_and_reports(tmp_path, monkeypatch):
    import json

    import drlkit.data
    from drlkit.data import ImageDataset

    big = synthetic_dataset(n=200, seed=1)
    splits = {"train": big, "test": ImageDataset(X, Y, DATA.classes, "synthetic test")}
    monkeypatch.setattr(drlkit.data, "load_dataset", lambda name, split, root=None: splits[split])
    model = tmp_path / "tiny.safetensors"
    save_model(MODEL, model, CARD)
    out, report = tmp_path / "clf.safetensors", tmp_path / "clf.json"
    run = CliRunner().invoke(cli, ["finetune", "--data", "blobs", "--labels", "10", "--model",
                                   str(model), "--epochs", "1", "--supervised-epochs", "0",
                                   "--batch-size", "16", "--quiet",
                                   "-o", str(out), "--report", str(report)])
    assert run.exit_code == 0, run.output
    assert "10 labelled of 200 train images (draw 0)" in run.output
    rec = json.loads(report.read_text())
    card = DRLClassifier.load(out).metrics_
    assert card["test_accuracy"] == rec["metrics"]["test_accuracy"]
    assert card["test_accuracy"] == DRLClassifier.load(out).score(X, Y)
    assert 0 <= card["val_accuracy"] <= 1 and card["n_labels"] == 10
    assert len(rec["history"]) == 1 and 0 <= rec["history"][0]["pseudo_label_accuracy"] <= 1
    assert "test accuracy" in run.output
