"""Trainer: exact resume, export metadata, diagnostics, and `drlkit train` through the CLI."""

import importlib
import json
import os
import signal

import pytest
import torch
from click.testing import CliRunner
from conftest import synthetic_dataset, tiny_model
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from drlkit.checkpoint import load_model, read_header
from drlkit.cli import cli
from drlkit.config import preset
from drlkit.diagnostics import ProbeSet, quick_probe, z_usage
from drlkit.provenance import StepClock
from drlkit.train import TrainConfig, Trainer, train

MC = preset("tiny", image_size=16, channels=1, latent_dim=8)


def _tc(**kw):
    return TrainConfig(**{"dataset": "synthetic", "steps": 6, "batch_size": 8, "checkpoint_every": 3,
                          "diagnostics_every": 0, "warmup_steps": 2, "hflip": True, **kw})


def test_resume_from_a_mid_run_checkpoint_is_bitwise_exact(tmp_path):
    ds = synthetic_dataset(20)  # 20 images, batch 8: resume crosses an epoch boundary
    full = train(MC, _tc(), tmp_path / "full", dataset=ds, progress=False)
    half = train(MC, _tc(steps=3), tmp_path / "half", dataset=ds, progress=False)
    assert read_header(half)["budget"]["steps"] == 3
    with open(tmp_path / "half" / "log.jsonl", "a") as f:  # as if killed after logging step 5
        f.write(json.dumps({"step": 5, "loss": 1.0}) + "\n")
    resumed = train(MC, _tc(steps=6), tmp_path / "half", dataset=ds, resume=True, progress=False)
    a, b = load_file(str(full)), load_file(str(resumed))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # records after the saved step were dropped on resume: no step is logged twice
    assert [json.loads(ln)["step"] for ln in (tmp_path / "half" / "log.jsonl").open()] == [3, 6]
    state_full = load_file(str(tmp_path / "full" / "state.safetensors"))
    state_res = load_file(str(tmp_path / "half" / "state.safetensors"))
    for k in state_full:
        assert torch.equal(state_full[k], state_res[k]), k


def test_a_run_resumed_on_another_machine_says_which_steps_ran_where(tmp_path, monkeypatch):
    train_mod = importlib.import_module("drlkit.train")  # the module: drlkit.train is a function
    ds = synthetic_dataset(16)
    one = read_header(train(MC, _tc(steps=3), tmp_path / "one", dataset=ds, progress=False))
    assert one["budget"]["hardware"] == train_mod.hardware()
    assert [(s["from_step"], s["to_step"]) for s in one["budget"]["segments"]] == [(0, 3)]
    monkeypatch.setattr(train_mod, "hardware", lambda: "machine A")
    train(MC, _tc(steps=3), tmp_path / "r", dataset=ds, progress=False)
    monkeypatch.setattr(train_mod, "hardware", lambda: "machine B")
    budget = read_header(train(MC, _tc(steps=6), tmp_path / "r", dataset=ds, resume=True,
                               progress=False))["budget"]
    assert [(s["from_step"], s["to_step"], s["hardware"]) for s in budget["segments"]] == [
        (0, 3, "machine A"), (3, 6, "machine B")]
    assert budget["hardware"] == "steps 0-3: machine A; steps 3-6: machine B"
    assert budget["wall_time_s"] == pytest.approx(sum(s["wall_time_s"] for s in budget["segments"]),
                                                  abs=0.2)
    # a state written before segments were recorded: its steps are said to be unrecorded
    state = tmp_path / "old" / "state.safetensors"
    train(MC, _tc(steps=3), tmp_path / "old", dataset=ds, progress=False)
    with safe_open(str(state), "pt") as f:
        meta = {k: v for k, v in f.metadata().items() if k != "segments"}
    save_file(load_file(str(state)), str(state), meta)
    budget = read_header(train(MC, _tc(steps=6), tmp_path / "old", dataset=ds, resume=True,
                               progress=False))["budget"]
    assert budget["hardware"] == "steps 0-3: not recorded; steps 3-6: machine B"
    assert "except in steps 0-3" in budget["wall_time_note"]


def test_step_clock_counts_a_continued_step_at_the_median_and_the_rest_as_paused():
    clock = StepClock()
    clock.on_continue()  # continued before any step: nothing to compare with, counted in full
    assert clock.count(5.0) == 5.0 and clock.paused == 0.0 and not clock.continued
    clock.recent.clear()
    for dt in (1.0, 2.0, 1.5):
        assert clock.count(dt) == dt
    clock.on_continue()
    assert clock.count(61.5) == 1.5 and clock.paused == 60.0
    assert clock.count(61.5) == 61.5  # a slow step without SIGCONT counts in full
    clock.on_continue()
    assert clock.count(1.0) == 1.0 and clock.paused == 60.0  # continued, but not slow


@pytest.mark.skipif(not hasattr(signal, "SIGCONT"), reason="POSIX signals")
def test_step_clock_listens_for_sigcont_only_while_training():
    clock, before = StepClock(), signal.getsignal(signal.SIGCONT)
    with clock.listening():
        os.kill(os.getpid(), signal.SIGCONT)
        for _ in range(3):  # the handler runs between bytecodes, after kill returns
            pass
        assert clock.continued
    assert signal.getsignal(signal.SIGCONT) == before


def test_time_stopped_is_kept_out_of_wall_time_and_carried_across_resume(tmp_path, monkeypatch):
    train_mod = importlib.import_module("drlkit.train")
    now = [0.0]  # a fake clock: each step takes 1 s, and step 3 also spends 100 s stopped
    monkeypatch.setattr(train_mod.time, "perf_counter", lambda: now[0])
    ds = synthetic_dataset(16)

    def trainer(steps: int) -> Trainer:
        t = Trainer(MC, _tc(steps=steps), tmp_path / "p", ds)
        step = t.train_step

        def timed_step():
            now[0] += 1.0
            if t.step == 2:
                now[0] += 100.0
                t.record.clock.on_continue()  # what SIGCONT does (tested above)
            return step()

        t.train_step = timed_step
        return t

    budget = read_header(trainer(6).fit(progress=False))["budget"]
    assert budget["wall_time_s"] == 6.0 and budget["paused_s"] == 100.0
    assert "except" not in budget["wall_time_note"] and "paused_s" in budget["wall_time_note"]
    resumed = trainer(9)
    resumed.load_state()
    budget = read_header(resumed.fit(progress=False))["budget"]
    assert budget["wall_time_s"] == 9.0 and budget["paused_s"] == 100.0
    assert [(s["from_step"], s["wall_time_s"], s["paused_s"]) for s in budget["segments"]] == [
        (0, 6.0, 100.0), (6, 3.0, 0.0)]


def test_card_description_names_method_encoder_and_a_non_default_sampler(tmp_path):
    ds = synthetic_dataset(16)
    static = preset("tiny", image_size=16, channels=1, latent_dim=8, t_conditioned=False)
    for mc, tc, want in [
            (MC, _tc(t_sampler="uniform-sigma"),
             "DRL on synthetic (t-conditioned encoder, uniform-sigma t sampler)"),
            (static, _tc(), "DRL on synthetic (static encoder)"),
    ]:
        path = Trainer(mc, tc, tmp_path / tc.t_sampler, ds).export(tmp_path / "m.safetensors")
        assert read_header(path)["description"] == want


def test_resume_refuses_changed_options_and_existing_runs(tmp_path):
    ds = synthetic_dataset(16)
    train(MC, _tc(steps=3), tmp_path / "r", dataset=ds, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(MC, _tc(steps=3), tmp_path / "r", dataset=ds, progress=False)
    with pytest.raises(ValueError, match="different training options"):
        train(MC, _tc(steps=6, lr=1e-2), tmp_path / "r", dataset=ds, resume=True, progress=False)
    with pytest.raises(FileNotFoundError, match="no training state"):
        train(MC, _tc(), tmp_path / "none", dataset=ds, resume=True, progress=False)


def test_export_carries_full_metadata_and_ema_weights(tmp_path):
    ds = synthetic_dataset(16)
    mc = preset("tiny", image_size=16, channels=1, latent_dim=8, probabilistic=True)
    trainer = Trainer(mc, _tc(method="vdrl"), tmp_path / "v", ds)
    path = trainer.fit(progress=False)
    meta = read_header(path)
    assert meta["training"]["method"] == "vdrl" and meta["training"]["t_sampler"] == "uniform-t"
    assert meta["description"] == "VDRL on synthetic (t-conditioned encoder)"
    assert meta["budget"]["steps"] == 6 and meta["budget"]["images_seen"] == 48
    assert meta["budget"]["wall_time_s"] > 0 and "cores" in meta["budget"]["hardware"]
    assert meta["data"] == "synthetic blobs" and meta["preprocessing"]["resolution"] == 16
    loaded = load_model(path, "cpu")
    for (k, a), (_, b) in zip(trainer.ema.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    assert not all(torch.equal(a, b) for a, b in zip(trainer.model.parameters(),
                                                      loaded.parameters(), strict=True))


def test_diagnostics_report_z_usage_and_probe():
    ds = synthetic_dataset(64)
    model = tiny_model()
    ps = ProbeSet.from_dataset(ds, n_fit=32, n_val=32)
    gaps = z_usage(model, ps.x_fixed)
    assert set(gaps) == {0.1, 0.3, 0.5, 0.7, 0.9} and all(g == g for g in gaps.values())
    acc = quick_probe(model, ps)
    assert set(acc) == {0.3, 0.7}
    assert all(a > 0.9 for a in acc.values())  # the two blob classes are linearly separable


def test_cli_train_a_few_steps_on_an_image_folder(tmp_path):
    from PIL import Image

    ds = synthetic_dataset(12, size=16, channels=3)
    for i, (img, y) in enumerate(zip(ds.images, ds.labels, strict=True)):
        (tmp_path / "imgs" / ds.classes[y]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / "imgs" / ds.classes[y] / f"{i}.png")
    out = tmp_path / "run"
    args = ["train", "--dataset", str(tmp_path / "imgs"), "--preset", "tiny", "--latent-dim", "4",
            "--steps", "3", "--batch-size", "4", "--image-size", "16", "--diagnostics-every", "0",
            "--t-sampler", "range:0.2,0.8", "--out", str(out), "--quiet"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    meta = read_header(out / "model.safetensors")
    assert meta["config"]["channels"] == 3 and meta["config"]["latent_dim"] == 4
    assert meta["training"]["t_sampler"] == "range:0.2,0.8" and meta["training"]["hflip"]
    assert len((out / "log.jsonl").read_text().splitlines()) >= 1
    again = CliRunner().invoke(cli, args)
    assert again.exit_code != 0 and "--resume" in again.output
    bad_args = [{"range:0.2,0.8": "gaussian", str(out): str(out / "x")}.get(a, a) for a in args]
    bad = CliRunner().invoke(cli, bad_args)
    assert bad.exit_code == 2 and "t-sampler" in bad.output


def test_cli_train_mnist_static_two_steps(tmp_path, data_root):
    out = tmp_path / "m"
    result = CliRunner().invoke(cli, [
        "train", "--dataset", "mnist", "--data-root", str(data_root), "--preset", "tiny",
        "--static", "--method", "vdrl", "--steps", "2", "--batch-size", "4",
        "--diagnostics-every", "0", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    meta = read_header(out / "model.safetensors")
    assert meta["config"]["image_size"] == 28 and meta["config"]["channels"] == 1
    assert not meta["config"]["t_conditioned"] and meta["config"]["probabilistic"]
    assert json.loads(json.dumps(meta["data"])) == "mnist train, original idx files"
