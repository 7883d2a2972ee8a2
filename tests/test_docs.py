"""The docs site builds strictly (any warning fails: broken links, missing pages, bad docstrings),
and its generated pages say what the code says."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from drlkit.checkpoint import read_header
from drlkit.cli import cli
from drlkit.registry import REGISTRY

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def text(html: Path) -> str:
    return re.sub(r"<[^>]+>", "", html.read_text())


def test_every_docs_page_is_built(site):
    # generated tables under benchmarks/ and evaluation/ are included by pages, not pages;
    # benchmarks/denoiser.md is a page of its own (mkdocs.yml's exclude_docs says the same)
    def snippet(p: Path) -> bool:
        rel = p.relative_to(ROOT / "docs")
        return rel.parts[0] in ("benchmarks", "evaluation") and rel.as_posix() != \
            "benchmarks/denoiser.md"

    pages = [p for p in (ROOT / "docs").rglob("*.md") if not snippet(p)]
    assert ROOT / "docs" / "benchmarks" / "denoiser.md" in pages
    assert len(pages) >= 15
    for page in pages:
        rel = page.relative_to(ROOT / "docs").with_suffix("")
        built = site / ("index.html" if str(rel) == "index" else
                        rel.parent / "index.html" if rel.name == "index" else rel / "index.html")
        assert built.is_file(), f"{page} was not built"


def test_zoo_page_is_generated_from_the_registry(site):
    zoo = text(site / "models" / "index.html")
    assert "drlkit:zoo" not in zoo
    for name, entry in REGISTRY.items():
        assert entry.sha256 in zoo, name  # one section per entry, with its hash
    assert "images seen" in zoo and "recommended t" in zoo
    assert "t=None" not in zoo  # a static model's scores name no t
    assert "- (a static code: encode ignores t)" in zoo  # cifar10-ae's recommended t
    parts = zoo.split("&para;")  # each section heading ends in a permalink mark
    sections = {head.rsplit("\n", 1)[-1].strip(): body for head, body in pairwise(parts)}
    simclr, drl = sections["cifar10-simclr"], sections["cifar10-cpu"]
    assert "t sampler" not in simclr and "chosen on validation" not in simclr  # no t to speak of
    assert "t sampler uniform-t" in drl and "chosen on validation" in drl
    # NMI and ARI are scores, not percentages: cifar10-cpu's NMI 0.1206 reads 0.121
    assert "0.121 (t=0.5)" in drl and "12.06%" not in zoo
    # the summary's best-read column is each card's `reads.best`
    for name, entry in REGISTRY.items():
        best = read_header(ROOT / "checkpoints" / entry.file).get("reads", {}).get("best")
        if best:
            assert f"{100 * best['linear']['test']:.2f}% ({best['read']})" in zoo, name


def test_every_shipped_model_has_a_page_that_matches_its_card():
    # a retrained checkpoint must come with its page: budget, recommended t and probe as the card
    pages = {p.stem for p in (ROOT / "docs" / "models").glob("*.md")} - {"index"}
    assert pages == set(REGISTRY)
    for name, entry in REGISTRY.items():
        page = (ROOT / "docs" / "models" / f"{name}.md").read_text()
        card = read_header(ROOT / "checkpoints" / entry.file)
        rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| ([a-z ]+) \| (.*) \|$", page, re.M)}
        assert f"{card['budget']['images_seen']:,} images seen" in rows["budget"], name
        t = str(card["recommended_t"]) if card["config"]["t_conditioned"] else "none"
        assert rows["recommended t"].startswith(t), name
        acc = card["metrics"]["linear_probe"]["accuracy"]
        assert f"{100 * acc:.2f}%" in page or f"{acc:.4f}" in page, (name, acc)


def test_zoo_budget_line_says_how_long_a_run_was_stopped():
    hooks = _script("docs_hooks")
    budget = {"steps": 10000, "images_seen": 640000, "wall_time_s": 3600.0, "precision": "float32"}
    assert hooks._budget(budget) == "10,000 steps, 640,000 images seen, 60 min in training steps, float32"
    assert "6 min stopped, not counted" in hooks._budget({**budget, "paused_s": 390.0})


def test_cli_reference_is_generated_from_click(site):
    page = text(site / "cli" / "index.html")
    assert "drlkit:cli" not in page
    for name, cmd in cli.commands.items():
        assert f"drlkit {name}" in page
        for param in cmd.params:
            for opt in param.opts:
                if opt.startswith("--"):
                    assert opt in page, f"drlkit {name} {opt} missing from the CLI reference"


def test_api_reference_renders_docstrings(site):
    page = text(site / "api" / "index.html")
    for name in ("load", "encode", "DRLTransformer", "linear_probe", "few_label", "train"):
        assert name in page
    # a phrase from DRLModel.encode's docstring: the reference is rendered, not just titled
    assert "Embed images with the encoder" in page


def test_examples_page_includes_the_scripts(site):
    page = (site / "examples" / "index.html").read_text()
    for script in sorted((ROOT / "examples").glob("*.py")):
        first_line = script.read_text().splitlines()[0].strip('"')
        assert first_line.split(":")[0] in text(site / "examples" / "index.html"), script.name
    assert "--8&lt;--" not in page and "--8<--" not in page


def test_readme_zoo_table_matches_the_shipped_cards():
    import drlkit

    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- zoo-table", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines()[1:] if line.startswith("| `")]
    assert {re.match(r"\| `([\w-]+)`", r).group(1) for r in rows} == set(REGISTRY)
    for row in rows:
        name = re.match(r"\| `([\w-]+)`", row).group(1)
        metrics = drlkit.load(name).card["metrics"]
        probe = f"{100 * metrics['linear_probe']['accuracy']:.2f}%"
        # raw pixels do not depend on the model: one figure per dataset, its default model's
        # (mnist-2d's own evaluation, on another CPU, ended 0.0001 away: lbfgs rounding)
        dataset = drlkit.load(name).card["training"]["dataset"]
        default = {"mnist": "mnist", "cifar10": "cifar10", "fashion-mnist": "fashion-mnist"}
        pixel_metrics = drlkit.load(default[dataset]).card["metrics"]
        pixels = f"{100 * pixel_metrics['pixels_linear_probe']['accuracy']:.2f}%"
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == probe and cells[3] == pixels, (name, cells, probe, pixels)


def test_readme_quickstart_figures_are_those_of_its_run():
    """README's quickstart figures are what `python examples/quickstart.py --json` wrote."""
    run = json.loads((ROOT / "docs" / "benchmarks" / "quickstart.json").read_text())
    readme = (ROOT / "README.md").read_text()
    code, pixels = run["accuracy"]["DRL code"], run["accuracy"]["raw pixels"]
    assert f"It prints {code:.4f} for the 128-d code and {pixels:.4f} for the raw pixels" in readme
    assert f"({run['wall_time_s']:.0f} s on 2 Xeon" in readme and "Xeon" in run["hardware"]


def test_performance_threads_table_is_its_benchmark():
    run = json.loads((ROOT / "bench" / "results" / "threads.json").read_text())
    page = (ROOT / "docs" / "performance.md").read_text()
    table = page.split("<!-- threads-table", 1)[1].split("\n\n", 1)[0]
    got = {(r["threads"], r["busy_processes"]): f"{r['images_per_s']:.1f} img/s" for r in run["rows"]}
    for n in (1, 2):
        row = next(line for line in table.splitlines() if line.startswith(f"| {n} |"))
        assert row == f"| {n} | {got[(n, 0)]} | {got[(n, 1)]} |", row


def test_readme_pooled_claim_is_every_pooled_report():
    """'+A to +B points over N encoders': each `--features pooled` report beside its z report."""
    gains = []
    for pooled in sorted((ROOT / "docs" / "benchmarks").rglob("*-pooled.json")):
        z = pooled.with_name(pooled.name.replace("-pooled.json", ".json"))
        test = [json.loads(p.read_text())["representations"]["model"]["best"]["linear"]["test"]
                for p in (z, pooled)]
        gains.append(100 * (test[1] - test[0]))
    assert gains and min(gains) > 0
    readme = (ROOT / "README.md").read_text()
    assert (f"+{min(gains):.2f} to +{max(gains):.2f} points over {len(gains)} encoders"
            in readme)


def test_readme_reads_figures_are_the_cifar10_card():
    """The README's denoiser-read and best-read figures are the shipped cifar10 card's `reads`,
    which scripts/card_reads.py writes from the full-protocol reports."""
    import drlkit

    model = drlkit.load("cifar10")
    reads = model.card["reads"]
    readme = " ".join((ROOT / "README.md").read_text().split())  # line breaks as spaces
    den, best = reads["denoiser"]["linear"]["test"], reads["best"]["linear"]["test"]
    control = json.loads((ROOT / reads["denoiser"]["report"]).read_text())
    rnd = control["representations"]["random_encoder"]["best"]["linear"]["test"]
    assert f"cifar10` probes at {100 * den:.2f}% on the CIFAR-10 test set" in readme
    assert f"{100 * rnd:.2f}% for the same network untrained" in readme
    assert f"its best read, {reads['best']['read']}, at {100 * best:.2f}%" in readme
    assert f"features=\"best\") # (N, {model.feature_dim('best')})" in readme


def card(name: str) -> dict:
    """The header of registry model `name`'s committed file."""
    return read_header(ROOT / "checkpoints" / REGISTRY[name].file)


DENOISER_STUDY = ROOT / "docs" / "benchmarks" / "denoiser"


def denoiser_best(name, score="linear", split="test", rep="model") -> float:
    """A denoiser-study report's (docs/benchmarks/denoiser/NAME.json) score at its chosen t."""
    report = json.loads((DENOISER_STUDY / f"{name}.json").read_text())
    return report["representations"][rep]["best"][score][split]


def test_benchmarks_summary_reads_figures_are_the_cards():
    """docs/benchmarks.md's summary line of the denoiser study quotes the cards' `reads`."""
    summary = " ".join((ROOT / "docs" / "benchmarks.md").read_text().split("## Summary", 1)[1]
                       .split("\n## ", 1)[0].split())
    c, f, m = (card(name)["reads"] for name in ("cifar10", "fashion-mnist", "mnist"))
    assert f"probes at {100 * c['denoiser']['linear']['test']:.2f}% on the" in summary
    assert (f"the model's best read, {c['best']['read']}, at {100 * c['best']['linear']['test']:.2f}%. "
            f"The code z of the same model: {100 * c['z']['linear']['test']:.2f}%") in summary
    assert (f"Fashion-MNIST ({100 * f['denoiser']['linear']['test']:.2f}% against z's "
            f"{100 * f['z']['linear']['test']:.2f}%)") in summary
    assert (f"(multi-t z {100 * m['multi_t_z']['linear']['test']:.2f}%, denoiser "
            f"{100 * m['denoiser']['linear']['test']:.2f}%)") in summary
    jpeg, png = denoiser_best("cifar10-jpeg-b64-denoiser"), denoiser_best("cifar10-cpu-denoiser")
    assert (f"reads {100 * (png - jpeg):.2f} points lower on that copy than on the lossless one "
            f"({100 * jpeg:.2f}% against {100 * png:.2f}%)") in summary


def test_model_pages_reads_tables_are_their_cards():
    """A model page's "Reads" table (scripts/card_reads.py writes the card) shows each read's
    linear-probe, kNN and few-label figures as the card records them."""
    keys = {"best": "best", "denoiser": "denoiser", "multi-t z": "multi_t_z",
            "pooled encoder features": "pooled", "z": "z"}
    checked = 0
    for name, entry in REGISTRY.items():
        page = (ROOT / "docs" / "models" / f"{name}.md").read_text()
        if "## Reads" not in page:
            continue
        reads = read_header(ROOT / "checkpoints" / entry.file)["reads"]
        table = page.split("## Reads", 1)[1].split("\n\n| read |", 1)[1].split("\n\n", 1)[0]
        for line in table.splitlines()[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            key = next(v for k, v in sorted(keys.items(), key=lambda kv: -len(kv[0]))
                       if cells[0].startswith(k))
            metrics = reads[key]["metrics"]
            assert cells[2] == f"**{100 * reads[key]['linear']['test']:.2f}%**", (name, key)
            knn = metrics.get("knn")
            assert cells[3] == ("-" if knn is None else f"{100 * knn:.2f}%"), (name, key)
            for cell, metric in zip(cells[4:], ("nmi", "few_label_100", "few_label_1000"),
                                    strict=True):
                want = "-" if metric not in metrics else (
                    f"{metrics[metric]:.3f}" if metric == "nmi" else f"{100 * metrics[metric]:.2f}%")
                assert cell == want, (name, key, metric)
            checked += 1
    assert checked >= 15  # the five reads of cifar10, cifar10-cpu and fashion-mnist


def test_denoiser_page_ship_and_budget_figures_are_the_reports():
    """The figures of "The budget curve" and "Why the CPU run reads better" are the models'
    full-protocol reports (docs/benchmarks/denoiser/cifar10*-{denoiser,best}.json), the one-factor
    run's (cifar10-jpeg-b64-denoiser.json) included."""
    study = DENOISER_STUDY
    page = " ".join((study / "body.md").read_text().split())
    best = denoiser_best
    gpu_d, cpu_d = best("cifar10-denoiser"), best("cifar10-cpu-denoiser")
    gpu_b, cpu_b = best("cifar10-best"), best("cifar10-cpu-best")
    gpu_dv, cpu_dv = best("cifar10-denoiser", split="val"), best("cifar10-cpu-denoiser", split="val")
    assert best("cifar10-best", split="val") == best("cifar10-cpu-best", split="val")  # the tie
    tie = 100 * best("cifar10-best", split="val")
    assert f"reads {100 * (cpu_d - gpu_d):.2f} points lower with the denoiser read" in page
    assert f"and {100 * (cpu_b - gpu_b):.2f} lower with the best read on test" in page
    assert f"on validation, {100 * (cpu_dv - gpu_dv):.2f} lower" in page
    assert f"the best reads tie at {tie:.2f}%" in page
    assert (f"read {100 * cpu_d:.2f}% against {100 * gpu_d:.2f}% on test ({100 * cpu_dv:.2f}% "
            f"against {100 * gpu_dv:.2f}% on validation), best read {100 * cpu_b:.2f}% against "
            f"{100 * gpu_b:.2f}% ({tie:.2f}% each on validation)") in page
    nmi = (best("cifar10-cpu-best", "nmi", "val"), best("cifar10-best", "nmi", "val"))
    few = (best("cifar10-cpu-best", "few_label_100", "val"),
           best("cifar10-best", "few_label_100", "val"))
    assert (f"(NMI {nmi[0]:.3f} against {nmi[1]:.3f}; 100 labels {100 * few[0]:.2f}% against "
            f"{100 * few[1]:.2f}%)") in page
    copies = json.loads((study / "copies.json").read_text())["results"]
    gap = {m: {s: 100 * (r["jpeg"][s] - r["png"][s]) for s in ("test", "val")}
           for m, r in copies.items()}
    assert (f"(-{-gap['cifar10']['test']:.2f} points on test, -{-gap['cifar10']['val']:.2f} on "
            "validation)") in page
    assert (f"less than `cifar10-cpu` on JPEG input (-{-gap['cifar10']['test']:.2f} against "
            f"-{-gap['cifar10-cpu']['test']:.2f})") in page
    assert all(g["test"] < 0 and g["val"] < 0 for g in gap.values())  # "both read JPEG worse"
    # the one-factor run: cifar10-cpu's recipe on the JPEG copy, read on the page and cpu's card
    jb, jbv = best("cifar10-jpeg-b64-denoiser"), best("cifar10-jpeg-b64-denoiser", split="val")
    report = json.loads((study / "cifar10-jpeg-b64-denoiser.json").read_text())
    assert report["model_card"]["training"]["cifar_copy"] == "jpeg"
    assert report["model_card"]["training"]["batch_size"] == 64
    budget = report["model_card"]["budget"]
    assert budget["images_seen"] == 640_000
    assert (f"({budget['wall_time_s']:,.0f} s in training steps on 2 Xeon cores (native bf16, "
            f"torch 2.13.0+cpu) in bf16, then {round(report['total_wall_time_s'] / 60)} minutes "
            "for the read's probes") in page
    assert "Xeon" in budget["hardware"]
    assert budget["hardware"].endswith("native bf16), 2 cores, torch 2.13.0+cpu")
    assert report["model_card"]["budget"]["precision"] == "bfloat16"
    assert (f"**{100 * jb:.2f}% on test ({100 * jbv:.2f}% on validation)**: "
            f"{100 * (cpu_d - jb):.2f} points below `cifar10-cpu` ({100 * (cpu_dv - jbv):.2f} on "
            f"validation), which differs from it in the training copy alone, and "
            f"{100 * (gpu_d - jb):.2f} below `cifar10` ({100 * (gpu_dv - jbv):.2f} on "
            "validation)") in page
    assert jb < min(cpu_d, gpu_d) and jbv < min(cpu_dv, gpu_dv)  # "it is the data"
    cpu_page = " ".join((ROOT / "docs" / "models" / "cifar10-cpu.md").read_text().split())
    assert (f"reads {100 * jb:.2f}% on test ({100 * jbv:.2f}% on validation) with the denoiser "
            f"read, {100 * (cpu_d - jb):.2f} points below this model and {100 * (gpu_d - jb):.2f} "
            "below `cifar10`") in cpu_page
    ctrl_b = best("cifar10-best", rep="random_encoder")
    ctrl_d = best("cifar10-denoiser", rep="random_encoder")
    ctrl_knn = best("cifar10-best", "knn", rep="random_encoder")
    assert (f"the best way probes at {100 * ctrl_b:.2f}% (kNN {100 * ctrl_knn:.2f}%), against "
            f"{100 * ctrl_d:.2f}% for its denoiser read alone") in page
    assert (f"The trained best read is {100 * (gpu_b - ctrl_b):.2f} points above it; the issue's "
            f"25-point target names the denoiser read, +{100 * (gpu_d - ctrl_d):.2f}.") in page
    v_d, v_b = best("cifar10-vdrl-denoiser"), best("cifar10-vdrl-best")
    c_d, c_b = best("cifar10-coarse-denoiser"), best("cifar10-coarse-best")
    assert (f"reads {100 * v_d:.2f}% with the denoiser read and {100 * v_b:.2f}% with the best "
            f"read, {100 * (cpu_b - v_b):.2f} points below `cifar10-cpu`'s best read") in page
    assert f"t > 0.7) reads {100 * c_d:.2f}% and {100 * c_b:.2f}%." in page
    fm_d, fm_b = best("fashion-mnist-denoiser"), best("fashion-mnist-best")
    assert f"probes at {100 * fm_d:.2f}%, the best read at {100 * fm_b:.2f}%" in page
    simclr = card("cifar10-simclr")
    code = simclr["metrics"]["linear_probe"]["accuracy"]
    assert (f"best read {100 * cpu_b:.2f}%, {100 * (cpu_b - code):.2f} points above SimCLR's "
            f"code ({100 * code:.2f}%)") in page
    # MNIST: the card's best read is the multi-t code, which ties denoiser + multi-t z on val
    m_reads = card("mnist")["reads"]
    mt, mz = m_reads["multi_t_z"]["linear"], m_reads["z"]["linear"]
    m_d, m_dv = best("mnist-denoiser"), best("mnist-denoiser", split="val")
    m_b, m_bv = best("mnist-best"), best("mnist-best", split="val")
    assert m_reads["best"]["read"] == "multi-t z" and round(m_bv, 4) == mt["val"]
    assert (f"The denoiser read probes at {100 * m_d:.2f}% (validation {100 * m_dv:.2f}%), below "
            f"the multi-t code ({100 * mt['test']:.2f}%, validation {100 * mt['val']:.2f}%); "
            f"denoiser + multi-t z reaches {100 * m_b:.2f}% on test but ties the multi-t code on "
            f"validation ({100 * mt['val']:.2f}% each)") in page
    assert f"above z ({100 * mz['test']:.2f}%)" in page
    mnist_page = " ".join((ROOT / "docs" / "models" / "mnist.md").read_text().split())
    assert (f"scores {100 * m_b:.2f}% on test but ties the multi-t code on validation "
            f"({100 * mt['val']:.2f}% each)") in mnist_page


def test_finetune_page_supervised_initialisation_figures_are_the_reports():
    """docs/finetune.md's case for supervised_epochs=1 quotes the study's reports."""
    study = ROOT / "docs" / "benchmarks" / "finetune"
    sup1 = json.loads((study / "c4000-drl-lap-enc.json").read_text())
    sup0 = json.loads((study / "ablations" / "c4000-drl-lap-enc-sup0.json").read_text())
    assert sup1["options"]["supervised_epochs"] == 1
    assert sup1["metrics"]["val_accuracy"] > sup0["metrics"]["val_accuracy"]  # chosen on val
    gain = 100 * (sup1["metrics"]["test_accuracy"] - sup0["metrics"]["test_accuracy"])

    def first(rep):
        return next(h["pseudo_label_accuracy"] for h in rep["history"]
                    if "pseudo_label_accuracy" in h)

    page = " ".join((ROOT / "docs" / "finetune.md").read_text().split())
    assert round(gain) == 10 and "lifts laplacenet by about ten points" in page
    assert (f"its first pseudo-labels from {100 * first(sup0):.0f}% to {100 * first(sup1):.0f}% "
            "correct") in page


def test_finetune_study_findings_are_the_reports():
    """The figures of "What the rows say so far" (docs/benchmarks/finetune.md) are the reports'."""
    study = ROOT / "docs" / "benchmarks" / "finetune"

    def rep(name):
        return json.loads((study / f"{name}.json").read_text())

    def acc(name):
        return 100 * rep(name)["metrics"]["test_accuracy"]

    def pls(name):
        return [100 * h["pseudo_label_accuracy"] for h in rep(name)["history"]
                if "pseudo_label_accuracy" in h]

    page = " ".join((ROOT / "docs" / "benchmarks" / "finetune.md").read_text().split())
    dl, rl = acc("c4000-drl-lap-enc"), acc("c4000-random-lap-enc")
    ds, rs = acc("c4000-drl-sup-enc"), acc("c4000-random-sup-enc")
    d0, r0 = acc("ablations/c4000-drl-lap-enc-sup0"), acc("ablations/c4000-random-lap-enc-sup0")
    assert f"{rl - dl:.2f} points higher with laplacenet ({rl:.2f}% against {dl:.2f}%)" in page
    assert f"{rs - ds:.2f} higher with supervised training ({rs:.2f}% against {ds:.2f}%)" in page
    assert f"led random init by {d0 - r0:.2f} points ({d0:.2f}% against {r0:.2f}%" in page
    p_d0, p_r0 = pls("ablations/c4000-drl-lap-enc-sup0"), pls("ablations/c4000-random-lap-enc-sup0")
    p_d, p_r = pls("c4000-drl-lap-enc"), pls("c4000-random-lap-enc")
    assert f"({p_d0[0]:.1f}% of the pseudo-labels correct against {p_r0[0]:.1f}%)" in page
    assert (f"({p_d[0]:.1f}% and {p_r[0]:.1f}%) and lifts both: the DRL init by {dl - d0:.2f} "
            f"points, random init by {rl - r0:.2f}.") in page
    assert f"(DRL {ds:.2f}% against {dl:.2f}%, random {rs:.2f}% against {rl:.2f}%)" in page
    assert f"({p_d[-1]:.1f}% and {p_r[-1]:.1f}% at the last propagation)" in page
    paper = _script("finetune_tables").PAPER[4000]
    assert f"are {paper['drl'] - dl:.2f} (DRL init) and {paper['random'] - rl:.2f} (random init)" in page
    assert f"({paper['drl']:.2f}% against {paper['random']:.2f}%)" in page
    sl, vl, dd = acc("c4000-simclr-lap-enc"), acc("c4000-vdrl-lap-enc"), acc("c4000-drl-lap-den")
    val = {n: 100 * rep(n)["metrics"]["val_accuracy"]
           for n in ("c4000-simclr-lap-enc", "c4000-vdrl-lap-enc", "c4000-drl-lap-den",
                     "c4000-drl-lap-enc")}
    p_s, p_dd = pls("c4000-simclr-lap-enc"), pls("c4000-drl-lap-den")
    assert (f"it reaches {sl:.2f}% (val {val['c4000-simclr-lap-enc']:.2f}%), {sl - rl:.2f} points "
            f"above random init and {sl - dl:.2f} above the DRL init") in page
    assert (f"({p_s[0]:.1f}% of the pseudo-labels correct, against {p_r[0]:.1f}% from random init "
            f"and {p_d[0]:.1f}% from the DRL init)") in page
    assert (f"{vl:.2f}% against {dl:.2f}% (val {val['c4000-vdrl-lap-enc']:.2f}% against "
            f"{val['c4000-drl-lap-enc']:.2f}%)") in page
    assert f"({paper['vdrl']:.2f}% against {paper['drl']:.2f}%)" in page
    assert f"{paper['vdrl'] - paper['drl']:.2f} points ahead at 4000 labels" in page
    minutes = [round(rep(n)["wall_time_s"] / 60) for n in ("c4000-drl-lap-den", "c4000-drl-lap-enc")]
    assert (f"it reaches {dd:.2f}% against {dl:.2f}% (val {val['c4000-drl-lap-den']:.2f}% "
            f"against {val['c4000-drl-lap-enc']:.2f}%) in {minutes[0]} minutes "
            f"against {minutes[1]}") in page
    assert f"({p_dd[0]:.1f}% to {p_dd[-1]:.1f}%)" in page and p_dd[-1] < p_dd[0]
    md, mr = acc("m100-drl-lap-enc"), acc("m100-random-lap-enc")
    mdv, mrv = (100 * rep(n)["metrics"]["val_accuracy"] for n in ("m100-drl-lap-enc", "m100-random-lap-enc"))
    p_md, p_mr = pls("m100-drl-lap-enc"), pls("m100-random-lap-enc")
    assert (f"{md:.2f}% against {mr:.2f}% from random init (val {mdv:.2f}% against {mrv:.2f}%), "
            f"its first propagation already {p_md[0]:.1f}% correct against {p_mr[0]:.1f}%") in page
    assert md > mr and mdv > mrv  # "the DRL init does help"
    summary = " ".join((ROOT / "docs" / "benchmarks.md").read_text().split())
    best_row = max(acc(p.stem) for p in study.glob("c4000-*.json"))
    assert sl == best_row and f"SimCLR's init is the best row ({sl:.2f}%" in summary
    assert f"the DRL init is ahead of random init ({md:.2f}% against {mr:.2f}%)" in summary
    # the default backbone is the one that scored higher on validation, as the docs say
    import drlkit

    assert val["c4000-drl-lap-enc"] > val["c4000-drl-lap-den"]
    assert drlkit.DRLClassifier().backbone == "encoder"
    enc_vs_den = f"{val['c4000-drl-lap-enc']:.2f}% against {val['c4000-drl-lap-den']:.2f}%"
    guide = " ".join((ROOT / "docs" / "finetune.md").read_text().split())
    assert (f"fine-tuned as well as the denoiser on validation ({enc_vs_den}; test {dl:.2f}% "
            f"against {dd:.2f}%) in a third of the time ({minutes[1]} against {minutes[0]} "
            "minutes") in guide
    assert f"validation ({enc_vs_den}, 4000 labels)" in " ".join(drlkit.DRLClassifier.__doc__.split())


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, folder", [("denoiser_tables", "denoiser"),
                                          ("finetune_tables", "finetune")])
def test_generated_study_tables_are_their_commands_output(name, folder):
    """Each table a study page includes is what its script writes from the committed reports
    now: a report added or re-run without re-running the script fails here."""
    files = _script(name).render()
    assert files
    for file, want in files.items():
        path = ROOT / "docs" / "benchmarks" / folder / file
        assert path.read_text() == want, f"{path} is stale: python scripts/{name}.py"


def test_finetune_page_includes_every_generated_table(site):
    page = (ROOT / "docs" / "benchmarks" / "finetune.md").read_text()
    for file in _script("finetune_tables").render():
        assert f'--8<-- "docs/benchmarks/finetune/{file}"' in page
    html = text(site / "benchmarks" / "finetune" / "index.html")
    assert "laplacenet epoch" in html and "4000 labels: test" in html
