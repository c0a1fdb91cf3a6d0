"""PyTorch reference of lwca's benchmark workloads, run by `lwca bench` on the same machine.

Usage: /usr/bin/python3 torch_reference.py THREADS WORKLOAD...   (Debian: apt-get install python3-torch python3-scipy)
Prints one JSON object per workload: {"workload": name, "ms": median milliseconds}.
Workloads: mlp_step, mlp_step_bn, analysis_step, analysis_step_bn, eigenvalues_<n>, resnet20_step,
hessian_lanczos_mlp, hessian_lanczos_resnet20."""
import json, sys, time
import torch, torch.nn as nn, torch.nn.functional as F

threads = int(sys.argv[1])
torch.set_num_threads(threads)
torch.manual_seed(0)


def median_ms(f, n, warm):
    for _ in range(warm):
        f()
    ts = []
    for _ in range(n):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2] * 1e3


def mlp(bn):
    layers, d = [], 784
    for _ in range(3):
        layers += [nn.Linear(d, 256)] + ([nn.BatchNorm1d(256)] if bn else []) + [nn.ReLU()]
        d = 256
    return nn.Sequential(*layers, nn.Linear(d, 10))


def mlp_step(bn):
    net = mlp(bn)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
    def step():
        opt.zero_grad(); F.cross_entropy(net(x), y).backward(); opt.step()
    return median_ms(step, 50, 5)


def analysis_step(bn):
    # A hooked forward/backward pass, both factors of every linear layer, eigenvalues (float64).
    net = mlp(bn)
    x, y = torch.randn(128, 784), torch.randint(0, 10, (128,))
    lins = [m for m in net if isinstance(m, nn.Linear)]
    acts, grads = {}, {}
    for i, m in enumerate(lins):
        m.register_forward_hook(lambda m, inp, out, i=i: acts.__setitem__(i, inp[0].detach()))
        m.register_full_backward_hook(lambda m, gi, go, i=i: grads.__setitem__(i, go[0].detach()))
    def step():
        net.zero_grad(); F.cross_entropy(net(x), y).backward()
        for i in range(len(lins)):
            X, G = acts[i].double(), grads[i].double() * x.shape[0]
            torch.linalg.eigvalsh(X.T @ X / X.shape[0]); torch.linalg.eigvalsh(G.T @ G / G.shape[0])
    return median_ms(step, 20, 2)


def eigenvalues(n):
    g = torch.randn(2 * n, n, dtype=torch.float64)
    a = (g.T @ g / (2 * n)).numpy()
    try:
        import scipy.linalg
        f = lambda: scipy.linalg.eigvalsh(a, driver="evd")
    except ImportError:
        t = torch.from_numpy(a)
        f = lambda: torch.linalg.eigvalsh(t)
    reps = 10 if n <= 800 else 3
    return median_ms(f, reps, 1)


class Block(nn.Module):
    def __init__(s, cin, cout, stride):
        super().__init__()
        s.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); s.b1 = nn.BatchNorm2d(cout)
        s.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); s.b2 = nn.BatchNorm2d(cout)
        s.pad, s.stride = cout - cin, stride

    def forward(s, x):
        o = s.b2(s.c2(F.relu(s.b1(s.c1(x)))))
        sc = x
        if s.stride != 1 or s.pad:
            sc = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, s.pad // 2, s.pad // 2))
        return F.relu(o + sc)


class ResNet(nn.Module):
    def __init__(s, n=3):
        super().__init__()
        s.c = nn.Conv2d(3, 16, 3, 1, 1, bias=False); s.b = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for cout, st in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(Block(cin, cout, st if i == 0 else 1)); cin = cout
        s.layers = nn.Sequential(*blocks); s.fc = nn.Linear(64, 10)

    def forward(s, x):
        x = s.layers(F.relu(s.b(s.c(x))))
        return s.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def resnet20_step():
    net = ResNet(3)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    x, y = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
    def step():
        opt.zero_grad(); F.cross_entropy(net(x), y).backward(); opt.step()
    return median_ms(step, 10, 2)


def lanczos(hvp, n, iters, gen):
    # Lanczos with full reorthogonalisation (twice), float64 vectors, Gaussian start: lwca's.
    v = torch.randn(n, dtype=torch.float64, generator=gen)
    v /= v.norm()
    q, alpha, beta = [v], [], []
    for j in range(iters):
        w = hvp(q[j])
        if j > 0:
            w -= beta[-1] * q[j - 1]
        alpha.append(float(q[j] @ w))
        w -= alpha[-1] * q[j]
        Q = torch.stack(q)
        for _ in range(2):
            w -= Q.T @ (Q @ w)
        b = float(w.norm())
        if j + 1 < iters:
            beta.append(b)
            q.append(w / b)
    t = torch.diag(torch.tensor(alpha, dtype=torch.float64))
    for i, b in enumerate(beta):
        t[i, i + 1] = t[i + 1, i] = b
    return float(torch.linalg.eigvalsh(t)[-1])


def hessian_lanczos(net, x, y, iters=20):
    # The top Hessian eigenvalue of the mean cross-entropy on one batch (BatchNorm in train
    # mode): one forward and backward pass with create_graph, then one double-backprop
    # Hessian-vector product (torch.autograd.grad twice) per Lanczos step.
    params = [p for p in net.parameters() if p.requires_grad]
    n = sum(p.numel() for p in params)
    gen = torch.Generator().manual_seed(0)
    def run():
        loss = F.cross_entropy(net(x), y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        def hvp(v):
            vs, off = [], 0
            for p in params:
                vs.append(v[off:off + p.numel()].view_as(p).to(p.dtype)); off += p.numel()
            hv = torch.autograd.grad(grads, params, grad_outputs=vs, retain_graph=True)
            return torch.cat([h.reshape(-1) for h in hv]).double()
        return lanczos(hvp, n, iters, gen)
    return run


def hessian_lanczos_mlp():
    net = mlp(True)
    x, y = torch.randn(512, 784), torch.randint(0, 10, (512,))
    return median_ms(hessian_lanczos(net, x, y), 3, 1)


def hessian_lanczos_resnet20():
    net = ResNet(3)
    x, y = torch.randn(512, 3, 32, 32), torch.randint(0, 10, (512,))
    return median_ms(hessian_lanczos(net, x, y), 1, 0)  # minutes per run


for w in sys.argv[2:]:
    if w == "mlp_step": ms = mlp_step(False)
    elif w == "mlp_step_bn": ms = mlp_step(True)
    elif w == "analysis_step": ms = analysis_step(False)
    elif w == "analysis_step_bn": ms = analysis_step(True)
    elif w.startswith("eigenvalues_"): ms = eigenvalues(int(w.split("_")[1]))
    elif w == "resnet20_step": ms = resnet20_step()
    elif w == "hessian_lanczos_mlp": ms = hessian_lanczos_mlp()
    elif w == "hessian_lanczos_resnet20": ms = hessian_lanczos_resnet20()
    else: continue  # no PyTorch counterpart (lwca-only workloads)
    print(json.dumps({"workload": w, "ms": ms, "torch": torch.__version__, "threads": threads}), flush=True)
