"""A drop-in for NNCodec 2.1.3's ``nncodec.fl``: ``NNClient``, ``NNCFedAvg``, ``encode``, ``nncargs``.

Same names, signatures and defaults as NNCodec's, on Flower's legacy API (``NumPyClient``,
``flwr.server.strategy.FedAvg``); torch is needed here (the client's model is a torch module),
nowhere else in nnr.  New code should use :mod:`nnr.fl` (Flower's Message API, any strategy).

What differs from NNCodec (docs/fl.rst):

* each side keeps its own sessions: the client's in Flower's ``context.state`` (as records, no
  files, no pickle), the server's in the strategy object — no shared ``.npz`` files, so the
  pipeline runs on the deployment engine too;
* streams travel as ``uint8`` arrays (NNCodec: a 0-d ``|S`` array whose .npy header the receiver
  cuts off);
* the initial model (sent as float32 by the legacy server) is counted in the traffic figures
  (``NNCFedAvg.communication``);
* FedAvg weights by the number of training samples (NNCodec: batches);
* no wandb, no best-model checkpoint files.

Like NNCodec's, this pipeline expects every client in every round (the legacy API sends one
message to all); :mod:`nnr.fl` catches up clients that miss rounds.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from nnr.decoder import Decoder
from nnr.encoding import sparsify
from nnr.nncodec import nnc
from nnr.nncodec.state import merge_args, new_approx_param_base

__all__ = ["NNCFedAvg", "NNClient", "encode", "nncargs"]

Arrays = dict[str, npt.NDArray[Any]]

nncargs: dict[str, Any] = {
    "approx_method": "uniform", "bitdepth": None, "bnf": False, "compress_differences": True,
    "compress_downstream": True, "compress_upstream": True, "diff_qp": -26, "err_accumulation": True,
    "job_id": "", "lsa": False, "nonweight_qp": -75, "opt_qp": False, "param_opt": True, "qp": -26,
    "qp_density": 2, "results": ".", "row_skipping": False, "sparsity": 0.6, "struct_spars_factor": 0.9,
    "tca": True, "use_dq": False, "verbose": False,
}


def encode(model: Any, args: Mapping[str, Any] | None = None, epoch: int = 0, nnc_mdl: Any = None,
           model_executer: Any = None, blkid_ptypes: Any = None, approx_param_base: Any = None,
           device_id: int | None = None) -> bytearray:
    """NNCodec's ``nncodec.fl.encode``: sparsify (``sparsity``, ``struct_spars_factor``) and code
    ``model`` (name -> array) at ``diff_qp``; returns the bitstream (no file is written)."""
    a = _args(args)
    params = {k: np.asarray(v) for k, v in model.items()}
    if a["sparsity"] > 0:
        params = sparsify.unstructured(int(a["qp"]), params, target_sparsity=float(a["sparsity"]),
                                       qp_density=int(a["qp_density"]))
        if a["struct_spars_factor"] > 0:
            params = sparsify.structured(params, gain=float(a["struct_spars_factor"]))
    bs = nnc.compress(params, qp=a["diff_qp"], nonweight_qp=a["nonweight_qp"], use_dq=a["use_dq"], opt_qp=a["opt_qp"],
                      param_opt=a["param_opt"], bnf=a["bnf"] and not a["compress_differences"], lsa=a["lsa"],
                      row_skipping=a["row_skipping"], tca=a["tca"], block_id_and_param_type=blkid_ptypes,
                      return_bitstream=True, model=nnc_mdl, model_executer=model_executer, verbose=a["verbose"],
                      approx_param_base=approx_param_base, device_id=0 if device_id is None else device_id,
                      int_quant_bw=a["bitdepth"], compress_differences=a["compress_differences"],
                      codebook_mode=2 if a["approx_method"] == "codebook" else 0)
    return bytearray(bs)


def _args(args: Any) -> dict[str, Any]:
    """NNCodec's args (an argparse Namespace or a dict) over ``nncargs``."""
    if args is not None and not isinstance(args, Mapping) and hasattr(args, "__dict__"):
        args = vars(args)
    return merge_args(nncargs, args)


def _stream(parameters: list[npt.NDArray[Any]]) -> bytes | None:
    if len(parameters) == 1 and parameters[0].dtype == np.uint8 and parameters[0].ndim == 1:
        return parameters[0].tobytes()
    return None


def _add(a: Mapping[str, npt.NDArray[Any]], b: Mapping[str, npt.NDArray[Any]]) -> Arrays:
    return {k: (a[k] + b[k]).astype(np.float32) if k in b else np.asarray(a[k]) for k in a}


def _decode(record: dict[str, npt.NDArray[Any]], data: bytes) -> tuple[Arrays, dict[str, npt.NDArray[Any]]]:
    dec = Decoder()
    if record:
        dec.load_state_record(record)
    out = dec.decode(data)
    return {k: np.asarray(v) for k, v in out.items()}, dict(dec.state_record())


# -- NNCodec's approx_param_base in Flower records (plain ints and int32 levels) ------------------


def _base_to_records(base: Mapping[str, Any]) -> tuple[Any, Any]:
    from flwr.app import Array, ArrayRecord, ConfigRecord

    names = list(base["parameters"])
    arrays = ArrayRecord({k: Array(np.asarray(base["parameters"][k], dtype=np.int32)) for k in names})
    conf = ConfigRecord({"device_id": int(base["device_id"] or 0),
                         "depth.names": list(base["put_node_depth"]),
                         "depth.values": [int(v) for v in base["put_node_depth"].values()],
                         "pid.names": list(base["parameter_id"]),
                         "pid.values": [int(v) for v in base["parameter_id"].values()]})
    return arrays, conf


def _base_from_records(arrays: Any, conf: Any) -> dict[str, Any]:
    base = new_approx_param_base()
    base["parameters"] = {k: a.numpy() for k, a in arrays.items()}
    base["device_id"] = int(conf["device_id"])
    base["put_node_depth"] = dict(zip(conf["depth.names"], (int(v) for v in conf["depth.values"])))
    base["parameter_id"] = dict(zip(conf["pid.names"], (int(v) for v in conf["pid.values"])))
    return base


def _client_base() -> Any:
    import flwr as fl

    return fl.client.NumPyClient


class NNClient(_client_base()):  # type: ignore[misc]
    """NNCodec's ``NNClient`` (a ``NumPyClient``): trains ``c_model`` (torch) with ``train_fn`` and
    sends its update as an NNC stream.  State lives in ``context.state``."""

    STATE = "nnr.nncodec.fl"

    def __init__(self, context: Any, trainloader: Any, valloader: Any, id: int, criterion: Any, device: Any,
                 c_model: Any, args: Any, mdl_info: Any, encode_fn: Callable[..., Any] | None = None,
                 decode_fn: Callable[..., Any] | None = None, train_fn: Callable[..., Any] | None = None) -> None:
        import torch

        super().__init__()
        self.context = context
        self.trainloader = trainloader
        self.testloader = valloader
        self.model = c_model
        self.mdl_info = mdl_info
        self.criterion = criterion
        self.device = device
        self.args = args
        self.settings = _args(args)
        try:
            self.optimizer = c_model.configure_optimizers(args.weight_decay, args.lr, (0.9, 0.95), device.type)
        except Exception:
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=getattr(args, "lr", 1e-3))
        self.id = id
        self.encode_fn = encode_fn or encode
        self.decode_fn = decode_fn  # unused: nnr keeps decoder sessions itself
        self.train_fn = train_fn
        self.accumulated_bs_sizes_per_round = 0
        self._load()

    # -- state in context.state ------------------------------------------------------------------

    def _load(self) -> None:
        st = self.context.state
        p = self.STATE
        self.comm_round = int(st[f"{p}.config"]["comm_round"]) if f"{p}.config" in st else 0
        self.approx_param_base = (_base_from_records(st[f"{p}.up.base"], st[f"{p}.up.base.config"])
                                  if f"{p}.up.base" in st else {**new_approx_param_base(), "device_id": self.id})
        self.down = {k: a.numpy() for k, a in st[f"{p}.down"].items()} if f"{p}.down" in st else {}
        self.mirror = {k: a.numpy() for k, a in st[f"{p}.mirror"].items()} if f"{p}.mirror" in st else {}
        self.prev_mdl = {k: a.numpy() for k, a in st[f"{p}.prev_mdl"].items()} if f"{p}.prev_mdl" in st else None
        self.residuals = {k: a.numpy() for k, a in st[f"{p}.residuals"].items()} if f"{p}.residuals" in st else None

    def _save(self) -> None:
        from flwr.app import Array, ArrayRecord, ConfigRecord

        st = self.context.state
        p = self.STATE
        def rec(d: Mapping[str, npt.NDArray[Any]]) -> Any:
            return ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in d.items()})

        st[f"{p}.config"] = ConfigRecord({"comm_round": self.comm_round})
        st[f"{p}.up.base"], st[f"{p}.up.base.config"] = _base_to_records(self.approx_param_base)
        st[f"{p}.down"] = rec(self.down)
        st[f"{p}.mirror"] = rec(self.mirror)
        if self.prev_mdl is not None:
            st[f"{p}.prev_mdl"] = rec(self.prev_mdl)
        if self.residuals is not None:
            st[f"{p}.residuals"] = rec(self.residuals)

    # -- NumPyClient -------------------------------------------------------------------------------

    def _state_dict(self) -> Arrays:
        # copies: the arrays torch hands out share memory with the parameters training changes
        return {k: np.array(v.cpu().detach().numpy(), dtype=np.float32, copy=True)
                for k, v in self.model.state_dict().items() if v.ndim > 0}

    def get_parameters(self, config: Mapping[str, Any]) -> list[npt.NDArray[Any]]:
        a = self.settings
        if not a["compress_upstream"]:
            return [v.cpu().numpy() for v in self.model.state_dict().values() if v.ndim > 0]
        params = self._state_dict()
        if a["compress_differences"] and self.prev_mdl is not None:
            params = {k: v - self.prev_mdl[k] for k, v in params.items()}
        if a["err_accumulation"] and self.residuals is not None:
            params = _add(params, self.residuals)
        before = dict(self.mirror)
        bs = bytes(self.encode_fn(params, a, approx_param_base=self.approx_param_base, epoch=self.comm_round,
                                  device_id=self.id))
        self.accumulated_bs_sizes_per_round += len(bs)
        decoded, self.mirror = _decode(before, bs)
        if a["err_accumulation"]:
            self.residuals = {k: params[k] - decoded[k] if k in decoded else params[k] for k in params}
        self.comm_round += 1
        self._save()
        return [np.frombuffer(bs, dtype=np.uint8).copy()]

    def set_parameters(self, parameters: list[npt.NDArray[Any]]) -> None:
        import torch

        a = self.settings
        data = _stream(parameters)
        if a["compress_downstream"] and data is not None:
            decoded, self.down = _decode(self.down, data)
            if a["compress_differences"] and self.prev_mdl is not None:
                weights = _add(self.prev_mdl, decoded)
            else:
                weights = decoded
        else:
            names = [k for k, v in self.model.state_dict().items() if v.ndim > 0]
            weights = dict(zip(names, parameters))
        sd = self.model.state_dict()
        sd.update({k: torch.tensor(np.asarray(v)) for k, v in weights.items()})
        self.model.load_state_dict(sd, strict=True)

    def fit(self, parameters: list[npt.NDArray[Any]], config: Mapping[str, Any]) -> tuple[list[npt.NDArray[Any]], int, dict[str, Any]]:
        import torch

        self.set_parameters(parameters)
        self.prev_mdl = self._state_dict()
        torch.manual_seed(808 + self.id + self.comm_round)
        np.random.seed(303 + self.id + self.comm_round)
        random.seed(909 + self.id + self.comm_round)
        res = self.train_fn(self.model, optimizer=self.optimizer, criterion=self.criterion, trainloader=self.trainloader,
                            device=self.device, verbose=False, args=self.args, round=self.comm_round) if self.train_fn else {}
        try:
            num_samples = len(self.trainloader.dataset)
        except (AttributeError, TypeError):
            num_samples = len(self.trainloader)
        out = self.get_parameters({})
        return out, num_samples, {**(res or {}), "bs_size": self.accumulated_bs_sizes_per_round}


def _fedavg_base() -> Any:
    import flwr as fl

    return fl.server.strategy.FedAvg


class NNCFedAvg(_fedavg_base()):  # type: ignore[misc]
    """NNCodec's ``NNCFedAvg``: decodes each client's update with that client's decoder session,
    averages, codes the averaged update downstream with its own encoder session."""

    def __init__(self, min_fit_clients: int, min_available_clients: int, evaluate_fn: Any, accept_failures: bool,
                 fit_metrics_aggregation_fn: Any, initial_parameters: Any, model_arch: Any, mdl_info: Any, args: Any,
                 encode_fn: Callable[..., Any] | None = None, decode_fn: Callable[..., Any] | None = None) -> None:
        super().__init__(min_fit_clients=min_fit_clients, min_available_clients=min_available_clients,
                         accept_failures=accept_failures, initial_parameters=initial_parameters)
        self.evaluate_fn_nnc = evaluate_fn
        self.fit_metrics_aggregation_fn = fit_metrics_aggregation_fn
        self.model_arch = model_arch
        self.mdl_info = mdl_info
        self.args = args
        self.settings = _args(args)
        self.encode_fn = encode_fn or encode
        self.decode_fn = decode_fn
        self.base_mdl: Arrays = {k: np.array(v.cpu().detach().numpy(), dtype=np.float32, copy=True)
                                 for k, v in model_arch.state_dict().items() if v.ndim > 0}
        self.bytes_mdl_full_prec = 4 * sum(int(v.size) for v in self.base_mdl.values())
        self.approx_param_base = new_approx_param_base()
        self.mirror: dict[str, npt.NDArray[Any]] = {}
        self.client_decoders: dict[str, dict[str, npt.NDArray[Any]]] = {}
        self.residuals: Arrays | None = None
        self.communication: list[dict[str, int]] = []
        self.accumulated_bs_size = 0
        self.accumulated_uncompressed = 0

    def evaluate(self, server_round: int, parameters: Any) -> Any:
        import torch

        if self.evaluate_fn_nnc is None:
            return None
        sd = OrderedDict((k, torch.tensor(v)) for k, v in self.base_mdl.items())
        res = self.evaluate_fn_nnc(server_round, sd)
        if res is None:
            return None
        return float(np.mean([float(v) for v in res.values()])), res

    def aggregate_fit(self, server_round: int, results: list[Any], failures: list[Any]) -> tuple[Any, dict[str, Any]]:
        from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
        from flwr.server.strategy.aggregate import aggregate

        if not results or (not self.accept_failures and failures):
            return None, {}
        a = self.settings
        names = list(self.base_mdl)
        up = 0
        weights = []
        for proxy, res in results:
            arrays = parameters_to_ndarrays(res.parameters)
            data = _stream(arrays)
            if a["compress_upstream"] and data is not None:
                up += len(data)
                upd, self.client_decoders[proxy.cid] = _decode(self.client_decoders.get(proxy.cid, {}), data)
                full = [np.asarray(upd.get(k, np.zeros_like(self.base_mdl[k])), dtype=np.float32) for k in names]
            else:
                up += sum(int(x.nbytes) for x in arrays)
                full = [np.asarray(x, dtype=np.float32) - self.base_mdl[k] if a["compress_differences"] else x
                        for k, x in zip(names, arrays)]
            weights.append((full, res.num_examples))
        agg = dict(zip(names, aggregate(weights)))
        n = len(results)
        down_float = n * self.bytes_mdl_full_prec
        if server_round == 1:  # the initial model went out as float32 (legacy server)
            first = {"round": 1, "down_bytes": down_float}
        else:
            first = {"round": server_round, "down_bytes": 0}
        if a["compress_downstream"]:
            upd = {k: np.asarray(v, dtype=np.float32) for k, v in agg.items()}
            if a["err_accumulation"] and self.residuals is not None:
                upd = _add(upd, self.residuals)
            before = dict(self.mirror)
            bs = bytes(self.encode_fn(upd, a, approx_param_base=self.approx_param_base, device_id=0))
            decoded, self.mirror = _decode(before, bs)
            if a["err_accumulation"]:
                self.residuals = {k: upd[k] - decoded[k] if k in decoded else upd[k] for k in upd}
            self.base_mdl = _add(self.base_mdl, decoded)
            out = ndarrays_to_parameters([np.frombuffer(bs, dtype=np.uint8).copy()])
            next_down = n * len(bs)
        else:
            self.base_mdl = _add(self.base_mdl, agg)
            out = ndarrays_to_parameters([self.base_mdl[k] for k in names])
            next_down = down_float
        rec = {"round": server_round, "up_bytes": up, "down_bytes": first["down_bytes"] + next_down,
               "float32_up_bytes": n * self.bytes_mdl_full_prec,
               "float32_down_bytes": (down_float if server_round == 1 else 0) + down_float}
        self.communication.append(rec)
        self.accumulated_bs_size += rec["up_bytes"] + rec["down_bytes"]
        self.accumulated_uncompressed += rec["float32_up_bytes"] + rec["float32_down_bytes"]
        metrics: dict[str, Any] = {}
        if self.fit_metrics_aggregation_fn:
            metrics = self.fit_metrics_aggregation_fn([(r.num_examples, r.metrics) for _, r in results])
        return out, {**metrics, **{k: v for k, v in rec.items() if k != "round"}}
