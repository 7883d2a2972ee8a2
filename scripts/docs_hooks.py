"""MkDocs hooks: pages generated from the code, so the docs cannot drift from it.

A page that holds one of these markers gets it replaced when the site is built:

- `<!-- drlkit:zoo -->`: the model zoo, one section per registry entry, read from the shipped
  files' cards (config, data, budget, hardware, recommended t, metrics) and hashes;
- `<!-- drlkit:cli -->`: the command-line reference, each command's `--help` as click renders it.

Wired up in mkdocs.yml (`hooks:`); `mkdocs build --strict` runs them.
"""

from __future__ import annotations

import click

_ZOO = "<!-- drlkit:zoo -->"
_CLI = "<!-- drlkit:cli -->"

# The card's `best` keys (docs/evaluation.md) in table order, with their column names.
_METRICS = {
    "linear": "linear probe", "knn": "kNN", "nmi": "NMI", "ari": "ARI",
    "few_label_100": "100 labels", "few_label_1000": "1000 labels",
    "semi_supervised_100": "semi-sup. 100",
}


def on_page_markdown(markdown: str, page, config, files) -> str:
    if _ZOO in markdown:
        markdown = markdown.replace(_ZOO, zoo_markdown(page.file.src_uri, files))
    if _CLI in markdown:
        markdown = markdown.replace(_CLI, cli_markdown())
    return markdown


def zoo_markdown(src_uri: str, files) -> str:
    """One section per registry entry, from its verified file's card."""
    from drlkit.registry import REGISTRY, load

    out = [_zoo_summary()]
    for name in REGISTRY:
        model = load(name, device="cpu")  # verifies the sha256 on the way
        out.append(_model_section(name, model, src_uri, files))
    return "\n\n".join(out)


def _zoo_summary() -> str:
    from drlkit.registry import DEFAULT_MODEL, list_models

    lines = ["| name | code | recommended t | linear probe (test) | best read (test) | raw pixels "
             "| description |", "|---|---|---|---|---|---|---|"]
    for r in list_models():
        metrics = r["metrics"]
        acc = metrics.get("linear_probe", {}).get("accuracy")
        pix = metrics.get("pixels_linear_probe", {}).get("accuracy")
        name = f"[`{r['name']}`](#{r['name']})" + (" (default)" if r["name"] == DEFAULT_MODEL else "")
        code = f"{r['latent_dim']}-d, " + ("t-conditioned" if r["t_conditioned"] else "static")
        t = r["recommended_t"] if r["t_conditioned"] else "- (static)"
        best = r.get("best_read") or {}
        read = (f"{_pct(best['linear']['test'])} ({best['read']})" if best.get("linear")
                else "-")
        lines.append(f"| {name} | {code} | {t} | {_pct(acc)} | {read} | {_pct(pix)} "
                     f"| {r['description']} |")
    return "\n".join(lines)


def _model_section(name: str, model, src_uri: str, files) -> str:
    from drlkit.registry import REGISTRY

    card, cfg = model.card, model.config
    train = card.get("training", {})
    budget = card.get("budget", {})
    params = card.get("num_params", {})
    code = f"{cfg.latent_dim}-d, " + ("t-conditioned E(x0, t)" if cfg.t_conditioned else "static E(x0)")
    if cfg.probabilistic:
        code += ", probabilistic (the mean is the code)"
    method = train.get("method", cfg.objective)  # DRL and VDRL share the "drl" objective
    diffusion = cfg.objective == "drl" and "t_sampler" in train  # the baselines draw no t
    sampler = f", t sampler `{train['t_sampler']}`" if diffusion else ""
    rows = [
        ("method", f"`{method}`{sampler}, loss {train.get('loss', '-')}"),
        ("code", code),
        ("networks", ", ".join(f"{k} {v:,} params" for k, v in params.items())),
        ("data", card.get("data", "-")),
        ("budget", _budget(budget)),
        ("hardware", budget.get("hardware", "-")),
        ("recommended t", str(model.recommended_t) if cfg.t_conditioned
         else "- (a static code: encode ignores t)"),
        ("file", f"`{REGISTRY[name].file}`, sha256 `{REGISTRY[name].sha256}`"),
    ]
    story = f"models/{name}.md"
    if files.get_file_from_path(story) is not None:
        link = _relative(src_uri, story)
        rows.append(("how it was trained and measured", f"[{story}]({link})"))
    text = [f"## {name}", "", REGISTRY[name].description, "", "| | |", "|---|---|"]
    text += [f"| {k} | {v} |" for k, v in rows]
    text += ["", _metrics_table(card.get("metrics", {}), _relative(src_uri, "evaluation.md"))]
    return "\n".join(text)


def _budget(budget: dict) -> str:
    if not budget:
        return "-"
    parts = [f"{budget['steps']:,} steps, {budget['images_seen']:,} images seen"]
    if budget.get("wall_time_s") is not None:
        parts.append(f"{budget['wall_time_s'] / 60:.0f} min in training steps")
    if budget.get("paused_s"):  # stopped with kill -STOP: left out of the minutes above
        parts.append(f"{budget['paused_s'] / 60:.0f} min stopped, not counted")
    if budget.get("precision"):
        parts.append(str(budget["precision"]))
    return ", ".join(parts)


def _metrics_table(metrics: dict, protocol_link: str) -> str:
    """The card's headline scores: every metric at its validation-chosen t when the card has the
    full protocol (`best`), else the linear probe alone."""
    if not metrics:
        return "_No metrics in this card._"
    dataset = metrics.get("dataset") or metrics.get("linear_probe", {}).get("dataset", "")
    if "best" not in metrics:
        lin = metrics.get("linear_probe", {})
        pix = metrics.get("pixels_linear_probe", {})
        return (f"Linear probe on {dataset}: **{_pct(lin.get('accuracy'))}** "
                f"(raw pixels, same protocol: {_pct(pix.get('accuracy'))}).")
    cols = [k for k in _METRICS if k in metrics["best"]]
    best = metrics["best"]
    swept = any(best[k]["t"] is not None for k in cols)
    lines = [f"Scores on {dataset} ([protocol]({protocol_link}))"
             + ("; each at the t chosen on validation." if swept else ".")
             + " NMI and ARI are scores in [0, 1] (ARI can dip below 0), the rest accuracies.",
             "", "| representation | " + " | ".join(_METRICS[k] for k in cols) + " |",
             "|---" * (len(cols) + 1) + "|"]
    lines.append("| this model | " + " | ".join(  # a static code has no t to name
        _score(k, best[k]["test"]) + ("" if best[k]["t"] is None else f" (t={best[k]['t']})")
        for k in cols) + " |")
    if "multi_t" in metrics:
        lines.append("| multi-t code | " + " | ".join(_score(k, metrics["multi_t"].get(k)) for k in cols)
                     + " |")
    for key, label in (("pixels", "raw pixels"), ("random_encoder", "random encoder")):
        if key in metrics:
            lines.append(f"| {label} | "
                         + " | ".join(_score(k, metrics[key].get(k)) for k in cols) + " |")
    return "\n".join(lines)


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _score(metric: str, v) -> str:
    """Accuracies as percentages; NMI and ARI (agreement scores, not fractions right) as 0.xxx."""
    if metric in ("nmi", "ari"):
        return "-" if v is None else f"{v:.3f}"
    return _pct(v)


def _relative(src_uri: str, target: str) -> str:
    depth = src_uri.count("/")
    return "../" * depth + target


def cli_markdown() -> str:
    """Every command's help, as `drlkit COMMAND --help` prints it (80 columns)."""
    from drlkit.cli import cli

    root = click.Context(cli, info_name="drlkit", terminal_width=80, max_content_width=80,
                         **cli.context_settings)  # -h as well as --help, as on the terminal
    out = ["```text", cli.get_help(root), "```"]
    for name in sorted(cli.commands):
        cmd = cli.commands[name]
        ctx = click.Context(cmd, info_name=name, parent=root, terminal_width=80, max_content_width=80)
        out += ["", f"## drlkit {name}", "", "```text", cmd.get_help(ctx), "```"]
    return "\n".join(out)
