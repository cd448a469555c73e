"""A deterministic model executer for the data-driven tools (IOQ, LSA, FT), no NNCodec import.

The "model" is a set of linear layers: every weight W (rows r) with its optional local scaling s,
bias b and batch norm (gamma, beta, mean, var) maps fixed inputs X to
``bn(s * (W X) + b)``; the "data" are the outputs of the original float model on X.  Evaluation
is minus the mean squared error against them (larger is better), tuning is closed-form least
squares (LSA: per-row scale; FT: biases and batch-norm shifts).  Everything is float64 numpy
with numpy's own summation (no BLAS), so results are the same in every process; the golden
streams of tests/test_datadriven.py were written by NNCodec 2.1.3 with this executer
(tests/data_gen/gen_datadriven.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

EPS = 1e-5


def _dot(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """w @ x with numpy's pairwise summation (deterministic, no BLAS)."""
    return (w[:, :, None] * x[None, :, :]).sum(axis=1)


def model(seed: int = 7) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The parameter dict and its block_id_and_param_type (with local-scaling tensors)."""
    rng = np.random.default_rng(seed)
    f = np.float32
    p: dict[str, np.ndarray] = {
        "conv.weight": (rng.standard_normal((8, 3, 3, 3)) * 0.2).astype(f),
        "conv.weight_scaling": np.ones(8, f),
        "bn.weight": (1 + 0.1 * rng.standard_normal(8)).astype(f),
        "bn.bias": (0.05 * rng.standard_normal(8)).astype(f),
        "bn.running_mean": (0.1 * rng.standard_normal(8)).astype(f),
        "bn.running_var": (1 + 0.2 * rng.random(8)).astype(f),
        "fc1.weight": (rng.standard_normal((16, 40)) * 0.1).astype(f),
        "fc1.weight_scaling": np.ones(16, f),
        "fc1.bias": (0.02 * rng.standard_normal(16)).astype(f),
        "fc2.weight": (rng.standard_normal((10, 16)) * 0.3).astype(f),
        "fc2.weight_scaling": np.ones(10, f),
        "fc2.bias": (0.02 * rng.standard_normal(10)).astype(f),
    }
    spec = {
        "block_identifier": {"conv.weight": "conv", "conv.weight_scaling": "conv", "bn.weight": "conv",
                             "bn.bias": "conv", "bn.running_mean": "conv", "bn.running_var": "conv",
                             "fc1.weight": "fc1", "fc1.weight_scaling": "fc1", "fc1.bias": "fc1",
                             "fc2.weight": "fc2", "fc2.weight_scaling": "fc2", "fc2.bias": "fc2"},
        "parameter_type": {"conv.weight": "weight", "conv.weight_scaling": "weight.ls", "bn.weight": "bn.gamma",
                           "bn.bias": "bn.beta", "bn.running_mean": "bn.mean", "bn.running_var": "bn.var",
                           "fc1.weight": "weight", "fc1.weight_scaling": "weight.ls", "fc1.bias": "bias",
                           "fc2.weight": "weight", "fc2.weight_scaling": "weight.ls", "fc2.bias": "bias"},
    }
    return p, spec


# (weight, scaling, bias, batch norm (gamma, beta, mean, var) or None)
LAYERS = (
    ("conv.weight", "conv.weight_scaling", None, ("bn.weight", "bn.bias", "bn.running_mean", "bn.running_var")),
    ("fc1.weight", "fc1.weight_scaling", "fc1.bias", None),
    ("fc2.weight", "fc2.weight_scaling", "fc2.bias", None),
)


class LinearExecuter:
    """NNCodec's ModelExecute methods on the linear "model" above."""

    def __init__(self, original: dict[str, np.ndarray], samples: int = 64, seed: int = 11, scale: float = 1.0,
                 lsa: bool = True, ft: bool = True, evaluate: bool = True, always_scale: bool = False,
                 float32_score: bool = False, shaped_scaling: bool = False) -> None:
        rng = np.random.default_rng(seed)
        self.float32_score = float32_score  # eval_model's values as numpy float32 (IOQ's arithmetic follows)
        self.shaped_scaling = shaped_scaling  # scaling factors returned as (C, 1, 1, 1)
        self.always_scale = always_scale  # train scaling factors even for weights the model has none for
        self.scale = scale
        self.flags = (evaluate, ft, lsa)
        self.inputs: dict[str, np.ndarray] = {}
        self.targets: dict[str, np.ndarray] = {}
        for w, ls, b, bn in LAYERS:
            if w not in original:
                continue
            cols = int(np.prod(original[w].shape[1:]))
            x = rng.standard_normal((cols, samples))
            self.inputs[w] = x
            self.targets[w] = self._forward(original, w, ls, b, bn, x)
        self.calls: list[str] = []

    @staticmethod
    def _pre_bn(p: dict[str, np.ndarray], w: str, ls: str, b: str | None, x: np.ndarray) -> np.ndarray:
        wm = np.asarray(p[w], np.float64).reshape(p[w].shape[0], -1)
        y = _dot(wm, x)
        if ls in p:
            y = y * np.asarray(p[ls], np.float64).reshape(-1, 1)
        if b is not None and b in p:
            y = y + np.asarray(p[b], np.float64).reshape(-1, 1)
        return y

    @staticmethod
    def _bn(p: dict[str, np.ndarray], bn: Any, y: np.ndarray) -> np.ndarray:
        if bn is None or bn[0] not in p:
            return y
        g, be, m, v = (np.asarray(p[n], np.float64).reshape(-1, 1) for n in bn)
        return g * (y - m) / np.sqrt(v + EPS) + be

    def _forward(self, p: dict[str, np.ndarray], w: str, ls: str, b: str | None, bn: Any,
                 x: np.ndarray) -> np.ndarray:
        return self._bn(p, bn, self._pre_bn(p, w, ls, b, x))

    def eval_model(self, parameters: dict[str, np.ndarray], verbose: bool = False) -> dict[str, float]:
        self.calls.append("eval")
        err = 0.0
        for w, ls, b, bn in LAYERS:
            if w in self.inputs:
                d = self._forward(parameters, w, ls, b, bn, self.inputs[w]) - self.targets[w]
                err += float((d * d).mean())
        if self.float32_score:
            return {"acc": np.float32(-self.scale * err), "loss": np.float32(err)}
        return {"acc": -self.scale * err, "loss": err}

    def test_model(self, parameters: dict[str, np.ndarray], verbose: bool = False) -> dict[str, float]:
        return self.eval_model(parameters, verbose)

    def tune_model(self, parameters: dict[str, np.ndarray], param_types: dict[str, str], lsa_flag: bool = False,
                   ft_flag: bool = False, verbose: bool = False, wandb_logging: bool = False) -> tuple[dict, dict]:
        self.calls.append(f"tune lsa={bool(lsa_flag)} ft={bool(ft_flag)}")
        p = dict(parameters)
        lsa_params: dict[str, np.ndarray] = {}
        ft_params: dict[str, np.ndarray] = {}
        for w, ls, b, bn in LAYERS:
            if w not in self.inputs:
                continue
            x, t = self.inputs[w], self.targets[w]
            # undo the batch norm on the target (affine per row), then least squares on the rest
            if bn is not None and bn[0] in p:
                g, be, m, v = (np.asarray(p[n], np.float64).reshape(-1, 1) for n in bn)
                t_pre = (t - be) * np.sqrt(v + EPS) / g + m
            else:
                t_pre = t
            wm = np.asarray(p[w], np.float64).reshape(p[w].shape[0], -1)
            y = _dot(wm, x)
            bias = np.asarray(p[b], np.float64).reshape(-1, 1) if (b is not None and b in p) else 0.0
            if lsa_flag and ((param_types.get(ls) == "weight.ls" and ls in p) or self.always_scale):
                s = ((y * (t_pre - bias)).sum(axis=1) / (y * y).sum(axis=1))
                s = np.round(s, 6)
                lsa_params[ls] = s.astype(np.float32)
                p[ls] = lsa_params[ls]
            if ft_flag:
                scale = np.asarray(p[ls], np.float64).reshape(-1, 1) if ls in p else 1.0
                if b is not None and b in p and param_types.get(b) in ("bias", "unspecified"):
                    nb = np.round((t_pre - scale * y).mean(axis=1), 6)
                    ft_params[b] = nb.astype(np.float32)
                if bn is not None and bn[1] in p:
                    pre = self._pre_bn(p, w, ls, b, x)
                    g, _, m, v = (np.asarray(p[n], np.float64).reshape(-1, 1) for n in bn)
                    nbe = np.round((t - g * (pre - m) / np.sqrt(v + EPS)).mean(axis=1), 6)
                    ft_params[bn[1]] = nbe.astype(np.float32)
        if self.shaped_scaling:
            lsa_params = {k: v.reshape(-1, 1, 1, 1) for k, v in lsa_params.items()}
        return lsa_params, ft_params

    def has_eval(self) -> bool:
        return self.flags[0]

    def has_test(self) -> bool:
        return True

    def has_tune_ft(self) -> bool:
        return self.flags[1]

    def has_tune_lsa(self) -> bool:
        return self.flags[2]


# -- the golden cases (tests/data_gen/gen_datadriven.py, tests/test_datadriven.py) -----------------

TOOLS = {"ioq": dict(ioq=True), "lsa": dict(lsa=True), "ft": dict(fine_tune=True),
         "lsa_ft": dict(lsa=True, fine_tune=True), "ioq_lsa": dict(ioq=True, lsa=True)}
SETTINGS = {"qp-38_dq": dict(qp=-38, use_dq=True), "qp-32_nodq": dict(qp=-32, use_dq=False),
            "qp-44_dq": dict(qp=-44, use_dq=True)}


def cases() -> dict[str, dict]:
    out: dict[str, dict] = {}
    for sname, st in SETTINGS.items():
        for tname, tl in TOOLS.items():
            out[f"{tname}_{sname}"] = dict(model="blocks", **st, **tl)
    # combinations, batch-norm folding, no blocks, executer without a tool, codebook, other settings
    out["ioq_lsa_ft_bnf"] = dict(model="blocks", qp=-36, ioq=True, lsa=True, fine_tune=True, bnf=True)
    out["lsa_bnf_nodq"] = dict(model="blocks", qp=-34, use_dq=False, lsa=True, bnf=True)
    out["ft_bnf"] = dict(model="blocks", qp=-40, fine_tune=True, bnf=True)
    out["ioq_ft"] = dict(model="blocks", qp=-38, ioq=True, fine_tune=True, nonweight_qp=-60)
    out["ioq_noblocks"] = dict(model="plain", qp=-36, ioq=True)
    out["ft_noblocks_nodq"] = dict(model="plain", qp=-34, use_dq=False, fine_tune=True)
    out["lsa_noblocks"] = dict(model="plain_ls", qp=-38, lsa=True)
    out["ioq_opt_qp_scan"] = dict(model="blocks", qp=-40, ioq=True, opt_qp=True, scan_order=1, qp_density=3)
    out["lsa_ft_no_lsa_tuner"] = dict(model="blocks", qp=-38, lsa=True, fine_tune=True, executer=dict(lsa=False))
    out["ioq_no_eval"] = dict(model="blocks", qp=-38, ioq=True, executer=dict(evaluate=False))
    out["lsa_codebook"] = dict(model="blocks", qp=-38, lsa=True, codebook_mode=1)
    out["ioq_lsa_codebook2"] = dict(model="blocks", qp=-36, ioq=True, lsa=True, codebook_mode=2)
    out["ioq_lsa_rowskip_tca"] = dict(model="blocks", qp=-38, ioq=True, lsa=True, row_skipping=True, tca=True)
    out["lsa_ft_intbw"] = dict(model="blocks", lsa=True, fine_tune=True, int_quant_bw=8)
    out["lsa_blocks_without_scaling"] = dict(model="blocks_nols", qp=-38, lsa=True, fine_tune=True,
                                             executer=dict(always_scale=True))
    out["ioq_lsa_float32_score_nodq"] = dict(model="blocks", qp=-28, ioq=True, lsa=True, use_dq=False,
                                             executer=dict(float32_score=True))
    out["lsa_shaped_scaling"] = dict(model="blocks", qp=-36, lsa=True, executer=dict(shaped_scaling=True))
    out["lsa_ft_bnf_scaling_last"] = dict(model="scaling_last", qp=-34, lsa=True, fine_tune=True, bnf=True)
    out["ioq_qp_per_tensor"] = dict(model="blocks", qp=-36, ioq=True,
                                    qp_per_tensor={"fc1.weight": -30, "conv.weight_scaling": -50})
    out["lsa_opt_qp"] = dict(model="blocks", qp=-36, lsa=True, opt_qp=True)
    out["lsa_ft_nonweight_qp_none"] = dict(model="blocks", qp=-30, lsa=True, fine_tune=True, nonweight_qp=None)
    out["ioq_lsa_ft_lambda_scale"] = dict(model="blocks", qp=-32, ioq=True, lsa=True, fine_tune=True, lambda_scale=0.5)
    out["ioq_coarse_few_samples"] = dict(model="blocks", qp=-24, ioq=True, executer=dict(samples=6, seed=2))
    return out


def params_of(kind: str) -> tuple[dict, dict | None]:
    p, spec = model()
    if kind == "blocks":
        return p, spec
    plain = {k: v for k, v in p.items() if not k.endswith("_scaling")}
    if kind == "scaling_last":
        return {**plain, **{k: v for k, v in p.items() if k.endswith("_scaling")}}, spec
    if kind == "blocks_nols":
        return plain, {part: {k: v for k, v in spec[part].items() if k in plain} for part in spec}
    if kind == "plain":
        return plain, None
    return p, None  # plain_ls: scaling tensors present as ordinary tensors


def torch_module() -> Any:
    """The parameter dict of :func:`model` (without scaling tensors) as a torch module with the
    same state-dict names (for ``compress_model``)."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, bias=False)
            self.bn = torch.nn.BatchNorm2d(8)
            self.fc1 = torch.nn.Linear(40, 16)
            self.fc2 = torch.nn.Linear(16, 10)

    net = Net()
    p, _ = model()
    sd = net.state_dict()
    with torch.no_grad():
        for name in sd:
            if name in p:
                sd[name].copy_(torch.from_numpy(p[name]))
    return net


def module_cases() -> dict[str, dict]:
    """compress_model cases: the module of :func:`torch_module`, blocks guessed by NNCodec's rule."""
    return {
        "module_ioq_bnf": dict(qp=-36, ioq=True, bnf=True),
        "module_ft_nodq": dict(qp=-34, fine_tune=True, use_dq=False),
        "module_lsa_ft_bnf": dict(qp=-38, lsa=True, fine_tune=True, bnf=True),
    }
