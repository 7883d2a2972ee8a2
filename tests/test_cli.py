"""The CLI's user-facing commands: encode over a folder (with a corrupt file), models, info, verify."""

import numpy as np
from click.testing import CliRunner
from conftest import tiny_model
from PIL import Image

import drlkit
from drlkit.checkpoint import save_model
from drlkit.cli import cli

CARD = {"description": "tiny", "preprocessing": {}, "training": {}, "data": "synthetic",
        "budget": {}, "recommended_t": 0.5, "metrics": {}}


def test_encode_folder_skips_corrupt_files_and_keeps_row_order(tmp_path):
    model_path = tmp_path / "tiny.safetensors"
    model = tiny_model()
    save_model(model, model_path, CARD)
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    good = {}
    for name in ("b.png", "a.jpg", "sub/c.png"):
        arr = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / name)
        good[name] = np.asarray(Image.open(folder / name).convert("RGB"))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "readme.txt").write_text("ignored: not an image extension")
    out = tmp_path / "out" / "feats.npy"
    result = CliRunner().invoke(cli, ["encode", str(folder), "--model", str(model_path),
                                      "--t", "0.3", "--out", str(out), "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    feats = np.load(out)
    files = out.with_name("feats.files.txt").read_text().splitlines()
    assert [f.split("imgs/")[1] for f in files] == ["a.jpg", "b.png", "sub/c.png"]
    assert feats.shape == (3, 8)
    expected = model.encode([good["a.jpg"], good["b.png"], good["sub/c.png"]], t=0.3)
    np.testing.assert_allclose(feats, expected, atol=1e-5)
    skipped = out.with_name("feats.skipped.txt").read_text().splitlines()
    assert sorted(s.split("\t")[0].split("imgs/")[1] for s in skipped) == ["broken.png", "empty.jpg"]
    assert all(len(s.split("\t")) == 2 and s.split("\t")[1] for s in skipped)
    assert "skipped 2" in result.output
    assert not [p for p in out.parent.iterdir() if ".tmp" in p.name]


def test_encode_multiple_t_writes_curves(tmp_path):
    model_path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(), model_path, CARD)
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(img)
    out = tmp_path / "f.npy"
    result = CliRunner().invoke(cli, ["encode", str(img), "--model", str(model_path),
                                      "--t", "0.1,0.9", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert np.load(out).shape == (1, 2, 8)


def test_encode_bad_arguments_are_one_line_errors(tmp_path):
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(img)
    r = CliRunner().invoke(cli, ["encode", str(img), "--model", "nope", "--out", "o.npy"])
    assert r.exit_code == 1 and "unknown model 'nope'" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["encode", str(img), "--t", "1.5", "--out", "o.npy"])
    assert r.exit_code == 2 and "--t" in r.output


def test_models_info_and_verify_on_the_shipped_registry():
    runner = CliRunner()
    r = runner.invoke(cli, ["models"])
    assert r.exit_code == 0 and "mnist" in r.output and "ERROR" not in r.output
    rows = {line.split()[0]: line.split() for line in r.output.splitlines()[1:]}
    assert rows["mnist"][3] == "0.9"      # a t-conditioned model shows its recommended t
    assert rows["cifar10-ae"][3] == "-"   # a static one has none: encode ignores t
    r = runner.invoke(cli, ["info", "mnist"])
    assert r.exit_code == 0, r.output
    for field in ("sha256", "recommended_t", "budget", "metrics", "linear_probe"):
        assert field in r.output
    r = runner.invoke(cli, ["verify"])
    assert r.exit_code == 0 and r.output.count("ok ") == len(drlkit.registry.REGISTRY)
    r = runner.invoke(cli, ["--version"])
    assert drlkit.__version__ in r.output
