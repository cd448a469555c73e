"""The model description the encoder works from: tensor order, parameter types and blocks.

NNCodec 2.1.3 builds this from a parameter dict: every tensor gets a *parameter index* (its
position in the dict, which becomes ``parameter_id`` in edition-2 NDU headers), tensors with two
or more dimensions are of type ``"weight"``, all others ``"unspecified"``; the caller may
overwrite types and group tensors into *blocks* (``block_id_and_param_type``), which are coded
together in one ``NNR_PT_BLOCK`` unit when possible.

A block is addressed by its weight.  Its other members are found by parameter type, except the
local-scaling tensor (always ``<weight>_scaling``), the decomposed factors
(:func:`nnr.block_layout.factor_name`) and, when the block has no tensor of type ``"bias"``, the bias name used by
batch-norm folding (``<weight>.bias``).  These naming rules are NNCodec's; the encoder follows
them so that it codes the same units.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from nnr.block_layout import BlockRole, block_coding_order, block_id_order, factor_name
from nnr.errors import NNRUsageError
from nnr.units.types import CompressedParameterTypes as CPT
from nnr.units.types import TopologyStorageFormat

# NNCodec's parameter types (``block_id_and_param_type``) and the role each gives a tensor
PARAMETER_TYPE_ROLES: dict[str, BlockRole] = {
    "weight": BlockRole.WEIGHT,
    "weight.ls": BlockRole.LS,
    "bias": BlockRole.BIAS,
    "bn.beta": BlockRole.BN_BETA,
    "bn.gamma": BlockRole.BN_GAMMA,
    "bn.mean": BlockRole.BN_MEAN,
    "bn.var": BlockRole.BN_VAR,
}
PARAMETER_TYPE_OF: dict[BlockRole, str] = {r: t for t, r in PARAMETER_TYPE_ROLES.items()}
UNSPECIFIED = "unspecified"  # coded like any tensor, with the non-weight QP


def role_of_type(parameter_type: str | None) -> BlockRole | None:
    """The role a parameter type gives a tensor (``"unspecified"``: TENSOR; unknown: None, coded raw)."""
    if parameter_type == UNSPECIFIED:
        return BlockRole.TENSOR
    return PARAMETER_TYPE_ROLES.get(parameter_type or "")


@dataclass
class ModelInfo:
    """Tensor order (``dims`` keys, giving the parameter index), types, dimensions and blocks."""

    dims: dict[str, tuple[int, ...]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    blocks: dict[str, str] = field(default_factory=dict)  # tensor name -> block id
    topology_storage_format: int | None = TopologyStorageFormat.NNR_TPL_UNREC
    topology_compression_format: int = 0
    ids: dict[str, int] | None = None  # parameter ids when not the positions (e.g. skipped state-dict entries)
    # every block's members, built on the first block() (apply_block_id_and_param_type resets it)
    _block_members: dict[str, Block] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def index(self) -> dict[str, int]:
        if self.ids is not None:
            return dict(self.ids)
        return {name: i for i, name in enumerate(self.dims)}

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, Any]) -> ModelInfo:
        """NNCodec's default description of a parameter dict."""
        m = cls()
        for name, a in tensors.items():
            shape = tuple(int(d) for d in getattr(a, "shape", ()))
            if len(shape) == 0:
                shape = (1,)
            m.dims[name] = shape
            m.types[name] = "weight" if len(shape) > 1 else UNSPECIFIED
        return m

    @classmethod
    def from_description(cls, parameter_dimensions: Mapping[str, Any], parameter_type: Mapping[str, str] | None = None,
                         block_identifier: Mapping[str, str | None] | None = None,
                         topology_storage_format: int | None = TopologyStorageFormat.NNR_TPL_UNREC) -> ModelInfo:
        """An explicit description (the order of ``parameter_dimensions`` gives the parameter ids)."""
        m = cls(topology_storage_format=topology_storage_format)
        for name, d in parameter_dimensions.items():
            shape = tuple(int(x) for x in d)
            m.dims[str(name)] = shape if shape else (1,)
            m.types[str(name)] = "weight" if len(shape) > 1 else UNSPECIFIED
        for name, t in (parameter_type or {}).items():
            if name not in m.dims:
                raise NNRUsageError(f"parameter_type names {name!r}, which is not in parameter_dimensions")
            m.types[name] = str(t)
        for name, b in (block_identifier or {}).items():
            if name not in m.dims:
                raise NNRUsageError(f"block_identifier names {name!r}, which is not in parameter_dimensions")
            if b is not None:
                m.blocks[name] = str(b)
        m.check_blocks()
        return m

    def role(self, name: str) -> BlockRole | None:
        """The role the tensor's parameter type gives it (see :func:`role_of_type`)."""
        return role_of_type(self.types.get(name))

    def copy(self) -> ModelInfo:
        return ModelInfo(dict(self.dims), dict(self.types), dict(self.blocks), self.topology_storage_format,
                         self.topology_compression_format, dict(self.ids) if self.ids is not None else None)

    # -- blocks ---------------------------------------------------------------------------------

    def check_blocks(self) -> None:
        """Every block has exactly one weight (otherwise the blocks cannot be walked)."""
        weights: dict[str, int] = {}
        for name, b in self.blocks.items():
            if self.role(name) == BlockRole.WEIGHT:
                weights[b] = weights.get(b, 0) + 1
        for b in set(self.blocks.values()):
            n = weights.get(b, 0)
            if n != 1:
                raise NNRUsageError(f"block {b!r} has {n} tensors of type 'weight'; a block needs exactly one")

    def block(self, block_id: str) -> Block:
        """The members of block ``block_id`` by role (all blocks are built once, in one pass)."""
        if self._block_members is None:
            roles: dict[str, dict[BlockRole, str]] = {}
            for name, b in self.blocks.items():
                role = self.role(name)
                if role is not None:
                    roles.setdefault(b, {})[role] = name
            self._block_members = {b: Block(self, b, r) for b, r in roles.items()}
        blk = self._block_members.get(block_id)
        return blk if blk is not None else Block(self, block_id, {})

    def walk(self) -> Iterator[tuple[str | None, str]]:
        """(block id, tensor) for single tensors, (block id, weight) for blocks, in parameter order."""
        index = self.index
        for name in sorted(self.dims, key=lambda n: index[n]):
            b = self.blocks.get(name)
            if b is None:
                yield None, name
            elif self.role(name) == BlockRole.WEIGHT:
                yield b, name


def apply_block_id_and_param_type(m: ModelInfo, spec: Mapping[str, Any]) -> None:
    """NNCodec's ``set_block_id_and_param_type``: types are overwritten for the tensors named; a
    tensor joins a block only if its block id is shared by at least two entries."""
    bid = spec.get("block_identifier") or {}
    ptype = spec.get("parameter_type") or {}
    values = list(bid.values())
    m.blocks = {}
    m._block_members = None
    for name in m.dims:
        if name in ptype:
            m.types[name] = str(ptype[name])
        b = bid.get(name)
        if b is not None and values.count(b) > 1:
            m.blocks[name] = str(b)


def block_spec_ok(spec: Mapping[str, Any], tensors: Mapping[str, Any] | None) -> bool:
    """NNCodec's sanity check of ``block_id_and_param_type`` (False: NNCodec ignores it)."""
    if not isinstance(spec, Mapping) or "block_identifier" not in spec or "parameter_type" not in spec:
        return False
    bid = spec["block_identifier"] or {}
    ptype = spec["parameter_type"] or {}
    members: dict[Any, list[tuple[str, str, tuple[int, ...] | None]]] = {}
    for name, b in bid.items():
        if b is None:
            continue
        if name not in ptype:
            return False
        t = ptype[name]
        shape: tuple[int, ...] | None = None
        if tensors:
            if name not in tensors:
                return False
            shape = tuple(getattr(tensors[name], "shape", ()))
            if t != "weight" and len(shape) != 1:
                return False
        members.setdefault(b, []).append((name, t, shape))
    for lst in members.values():
        available = list(PARAMETER_TYPE_ROLES)
        first: tuple[int, ...] | None = None
        for _name, t, shape in lst:
            if t not in available and t != UNSPECIFIED:
                return False
            if t != UNSPECIFIED:
                available.remove(t)
            if first is not None and shape is not None and (not first or not shape or first[0] != shape[0]):
                return False
            first = shape
        if "weight" in available:
            return False
    return True


class Block:
    """The members of one block by role (NNCodec's naming rules); :meth:`ModelInfo.block` builds them."""

    def __init__(self, m: ModelInfo, block_id: str, by_role: dict[BlockRole, str]) -> None:
        self.block_id = block_id
        self.model = m
        self.by_role = by_role

    @property
    def w(self) -> str:
        return self.by_role[BlockRole.WEIGHT]

    @property
    def dc_g(self) -> str:
        return factor_name(self.w, BlockRole.DC_G)

    @property
    def dc_h(self) -> str:
        return factor_name(self.w, BlockRole.DC_H)

    @property
    def ls(self) -> str:
        return self.w + "_scaling"

    @property
    def bi(self) -> str:
        return self.by_role.get(BlockRole.BIAS, self.w + ".bias")

    def bn(self, role: BlockRole) -> str:
        name = self.by_role.get(role)
        if name is None:
            raise NNRUsageError(f"block {self.block_id!r} has batch-norm tensors but none of type "
                                f"{PARAMETER_TYPE_OF[role]!r}")
        return name

    def name(self, role: BlockRole) -> str:
        """The member with this role."""
        fixed = {BlockRole.WEIGHT: self.w, BlockRole.DC_G: self.dc_g, BlockRole.DC_H: self.dc_h,
                 BlockRole.LS: self.ls, BlockRole.BIAS: self.bi}
        return fixed[role] if role in fixed else self.bn(role)

    @property
    def has_bn(self) -> bool:
        return BlockRole.BN_GAMMA in self.by_role

    def compressed_parameter_types(self, tensors: Mapping[str, Any]) -> int:
        """``compressed_parameter_types`` of the block from the tensors present."""
        cpt = 0
        if self.has_bn:
            cpt |= CPT.NNR_CPT_BN
        if self.bi in tensors:
            cpt |= CPT.NNR_CPT_BI
        if self.dc_g in tensors:
            cpt |= CPT.NNR_CPT_DC
        if self.ls in tensors:
            cpt |= CPT.NNR_CPT_LS
        return cpt

    def members(self, cpt: int) -> list[tuple[BlockRole, str, tuple[int, ...]]]:
        """(role, tensor, dimensions) in coding order (:func:`nnr.block_layout.block_coding_order`)."""
        dims = self.model.dims
        wd = dims[self.w]
        out: list[tuple[BlockRole, str, tuple[int, ...]]] = []
        for role in block_coding_order(cpt):
            name = self.name(role)
            if role in (BlockRole.WEIGHT, BlockRole.DC_G, BlockRole.DC_H):
                out.append((role, name, wd))
            elif role in (BlockRole.LS, BlockRole.BIAS):
                out.append((role, name, (wd[0],)))
            else:
                out.append((role, name, dims[name]))
        return out

    def id_list(self, cpt: int) -> list[str]:
        """``topology_elem_id_list`` (:func:`nnr.block_layout.block_id_order`)."""
        return [self.name(r) for r in block_id_order(cpt)]
