"""Numbers a refactor must not change (issue 32): losses, gradients, z-usage, information curves,
samples of every sampler, the baselines' losses, and short trainings of every method (weights,
cards, logs). Run it in two checkouts and compare:

    (cd OLD && python /path/to/scripts/same_numbers.py /tmp/old.npz)
    (cd NEW && python scripts/same_numbers.py /tmp/new.npz)
    python scripts/same_numbers.py --compare /tmp/old.npz /tmp/new.npz   # exit 1 on any difference

It imports drlkit and tests/conftest.py from the current directory's checkout.
"""

import inspect
import json
import sys
import tempfile

import numpy as np
import torch

sys.path[:0] = [".", "tests"]

from conftest import synthetic_dataset, tiny_model  # noqa: E402


def compare(old: str, new: str) -> int:
    a, b = np.load(old), np.load(new)
    bad = [k for k in a.files if k not in b.files or not np.array_equal(a[k], b[k])]
    cards_same = json.load(open(old + ".json")) == json.load(open(new + ".json"))
    print(f"{len(a.files)} arrays compared, {len(bad)} differ {bad[:10]}; cards and logs "
          f"{'identical' if cards_same else 'DIFFER'}")
    return 0 if not bad and cards_same else 1


def to_tensor(images):
    try:
        from drlkit.preprocess import to_tensor as f
    except ImportError:  # before issue 32
        from drlkit.train import to_tensor as f
    return f(images)


def drl_loss(method, sampler, views):
    from drlkit.loss import DRLLoss

    if "probabilistic" in inspect.signature(DRLLoss).parameters:
        return DRLLoss(sampler, views=views, probabilistic=method == "vdrl")
    return DRLLoss(method, sampler, views=views)  # before issue 32


def numbers(out: dict) -> None:
    from drlkit import diagnostics
    from drlkit.baselines import AELoss, SimCLRLoss, VAELoss
    from drlkit.sampling import sample

    x0 = to_tensor(synthetic_dataset(8).images)
    imgs = synthetic_dataset(8).images
    for sde in ("ve", "vp"):
        for par in ("edm", "paper"):
            for tc in (True, False):
                key = f"{sde}-{par}-{tc}"
                m = tiny_model(seed=4, sde=sde, parameterization=par, t_conditioned=tc)
                for views, sampler in (("none", "uniform-t"), ("novel", "lognormal:-1.2,1.2"),
                                       ("none", "uniform-sigma")):
                    for method in ("drl", "vdrl"):
                        mm = m if method == "drl" else tiny_model(
                            seed=4, sde=sde, parameterization=par, t_conditioned=tc,
                            probabilistic=True)
                        mm.zero_grad()
                        loss, _ = drl_loss(method, sampler, views)(
                            mm.train(), x0, torch.Generator().manual_seed(1))
                        loss.backward()
                        name = f"{key}-{views}-{sampler}-{method}"
                        out[f"loss-{name}"] = loss.detach().numpy()
                        out[f"grad-{name}"] = torch.cat([p.grad.flatten() for p in mm.parameters()
                                                         if p.grad is not None]).numpy()
                m.eval()
                out[f"zu-{key}"] = np.array(list(diagnostics.z_usage(m, x0).values()))
                ic = diagnostics.information_curve(m, imgs, [0.2, 0.8])
                out[f"ic-{key}"] = np.array(ic["own"] + ic["shuffled"])
                z = m.encode(imgs, t=0.5)
                for smp in ("pc", "ode", "em"):
                    out[f"sample-{key}-{smp}"] = sample(m, z[:2], steps=3, sampler=smp, seed=0)
                out[f"sdedit-{key}"] = sample(m, z[:2], steps=3, seed=0, x_start=imgs[:2],
                                              t_start=0.6)
    for name, loss_fn in (("ae", AELoss()), ("vae", VAELoss()), ("simclr", SimCLRLoss())):
        channels = 3 if name == "simclr" else 1
        m = tiny_model(seed=5, objective=name, t_conditioned=False, channels=channels,
                       probabilistic=name == "vae")
        x = to_tensor(synthetic_dataset(8, channels=channels).images)
        loss, _ = loss_fn(m, x, torch.Generator().manual_seed(2))
        loss.backward()
        out[f"base-{name}"] = loss.detach().numpy()
        out[f"basegrad-{name}"] = torch.cat([p.grad.flatten() for p in m.parameters()
                                             if p.grad is not None]).numpy()


def trainings(out: dict, cards: dict) -> None:
    from drlkit.checkpoint import load_model, read_header
    from drlkit.train import TrainConfig, train

    runs = [("drl", {"method": "drl"}), ("vdrl", {"method": "vdrl"}),
            ("novel-inv", {"method": "drl", "views": "novel", "invariance_weight": 0.5,
                           "t_sampler": "uniform-sigma"}),
            ("ae", {"method": "ae"}), ("vae", {"method": "vae", "kl_weight": 1.0}),
            ("simclr", {"method": "simclr"})]
    for name, kw in runs:
        ds = synthetic_dataset(24, channels=3)
        with tempfile.TemporaryDirectory() as d:
            tc = TrainConfig(dataset="synthetic", steps=6, batch_size=4, checkpoint_every=3,
                             diagnostics_every=3, warmup_steps=2, **kw)
            path = train(None, tc, d + "/r", dataset=ds, progress=False, preset_name="tiny",
                         image_size=16, channels=3, latent_dim=8,
                         t_conditioned=kw["method"] in ("drl", "vdrl"))
            for k, v in load_model(path, device="cpu").state_dict().items():
                out[f"train-{name}.{k}"] = v.numpy()
            card = read_header(path)
            for k in ("wall_time_s", "paused_s", "segments", "hardware", "wall_time_note"):
                card["budget"].pop(k, None)
            log = [json.loads(line) for line in open(d + "/r/log.jsonl")]
            cards[name] = {"card": card, "log": [{k: v for k, v in r.items() if k != "img_s"}
                                                 for r in log]}


def main() -> int:
    if sys.argv[1:2] == ["--compare"]:
        return compare(sys.argv[2], sys.argv[3])
    out, cards = {}, {}
    numbers(out)
    trainings(out, cards)
    np.savez(sys.argv[1], **out)
    with open(sys.argv[1] + ".json", "w") as f:
        json.dump(cards, f, indent=1, sort_keys=True, default=str)
    print(f"wrote {sys.argv[1]} ({len(out)} arrays) and {sys.argv[1]}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
