"""Writes torch_reference.json: weights after each step of torch.optim.SGD, Adam and AdamW
(single-tensor, non-foreach code path) from a fixed sequence of gradients, for
TestMatchesPyTorch. Run from this directory: python3 torch_reference.py (PyTorch 1.13 or later)"""

import json

import torch

CASES = [
    ("adam", {"betas": (0.9, 0.999), "eps": 1e-8}, 0.0),
    ("adam", {"betas": (0.8, 0.99), "eps": 1e-3}, 0.1),
    ("adamw", {"betas": (0.9, 0.999), "eps": 1e-8}, 0.1),
    ("adamw", {"betas": (0.0, 0.5), "eps": 1e-6}, 0.3),
    ("sgd", {"momentum": 0.9, "nesterov": True}, 0.01),
    ("sgd", {"momentum": 0.5, "nesterov": False}, 0.0),
]
STEPS = 8
LRS = [0.05 / (1 + k // 3) for k in range(STEPS)]


def options(name, opts):
    if name == "sgd":
        return {"momentum": opts["momentum"], "nesterov": opts["nesterov"]}
    return {"beta1": opts["betas"][0], "beta2": opts["betas"][1], "eps": opts["eps"]}


def main():
    gen = torch.Generator().manual_seed(7)
    w0 = (torch.randn(6, generator=gen, dtype=torch.float64) * 2).tolist()
    grads = (torch.randn(STEPS, 6, generator=gen, dtype=torch.float64) * torch.tensor([1, 10, 0.01, 1, 1, 1e-6])).tolist()
    for k in range(0, STEPS, 3):
        grads[k][3] = 0.0  # a zero gradient: the step is then ε-limited
    out = {"torch_version": torch.__version__, "w0": w0, "grads": grads, "lr": LRS, "cases": []}
    for name, opts, wd in CASES:
        for dtype in (torch.float32, torch.float64):
            w = torch.tensor(w0, dtype=dtype, requires_grad=True)
            cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
            kw = dict(opts)
            if name != "sgd":
                kw["foreach"] = False
            opt = cls([w], lr=LRS[0], weight_decay=wd, **kw)
            weights = []
            for k in range(STEPS):
                for group in opt.param_groups:
                    group["lr"] = LRS[k]
                w.grad = torch.tensor(grads[k], dtype=dtype)
                opt.step()
                weights.append(w.detach().double().tolist())
            out["cases"].append({"optimizer": name, "dtype": str(dtype).removeprefix("torch."),
                                 "options": options(name, opts), "weight_decay": wd, "weights": weights})
    with open("torch_reference.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
