"""The roles of a unit's tensors and the ``NNR_PT_BLOCK`` layout (syntax.md §8.2).

An NDU carries one tensor (role ``TENSOR``, or one decomposition factor ``DC_G`` / ``DC_H``) or,
as ``NNR_PT_BLOCK``, a weight with the tensors that belong to it, as ``compressed_parameter_types``
says: local scaling (``NNR_CPT_LS``), batch norm (``NNR_CPT_BN``: beta, gamma, mean, variance),
bias (``NNR_CPT_BI``), the weight itself or its decomposition G, H (``NNR_CPT_DC``).

The block lists its ids weight-first (``topology_elem_id_list``: weight or G, H; LS; BN beta,
gamma, mean, var; bias) but codes its tensors LS-first (LS, bias, BN beta..var, weight or G, H):
:func:`block_id_order` and :func:`block_coding_order` are those two orders, for the decoder's
payload layout and the encoder's units alike.

A decomposed weight ``W = G·H`` outside a block has no ``topology_elem_id_list`` to say which
factor a unit carries: NNCodec names the factors ``<weight>_G`` and ``<weight>_H`` and tells them
apart by that suffix.  :func:`factor_name`, :func:`factor_role` and :func:`weight_of` are that
naming rule, for the encoder's blocks, the entry-point count of a header and the decoder's
recomposition alike.
"""

from __future__ import annotations

import enum

from nnr.units.types import CompressedParameterTypes as CPT

__all__ = ["BN_ROLES", "BlockRole", "block_coding_order", "block_id_order", "factor_name", "factor_role",
           "weight_of"]


class BlockRole(str, enum.Enum):
    """The role of a tensor in its unit (the value is the name ``nnr info`` shows)."""

    TENSOR = "tensor"  # the only tensor of a unit that is not a block
    WEIGHT = "weight"
    LS = "ls"  # local scaling
    BIAS = "bias"
    BN_BETA = "bn_beta"
    BN_GAMMA = "bn_gamma"
    BN_MEAN = "bn_mean"
    BN_VAR = "bn_var"
    DC_G = "dc_g"  # decomposition W = G·H
    DC_H = "dc_h"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


BN_ROLES = (BlockRole.BN_BETA, BlockRole.BN_GAMMA, BlockRole.BN_MEAN, BlockRole.BN_VAR)

# the name suffix of each decomposition factor (NNCodec's naming rule)
_FACTOR_SUFFIX = {BlockRole.DC_G: "_G", BlockRole.DC_H: "_H"}


def factor_name(weight: str, role: BlockRole) -> str:
    """The name of decomposition factor ``role`` (DC_G or DC_H) of ``weight``: ``<weight>_G`` / ``_H``."""
    return weight + _FACTOR_SUFFIX[role]


def factor_role(name: str) -> BlockRole | None:
    """DC_G or DC_H when ``name`` is named as a decomposition factor, else None."""
    for role, suffix in _FACTOR_SUFFIX.items():
        if name.endswith(suffix):
            return role
    return None


def weight_of(name: str, role: BlockRole | None = None) -> str | None:
    """The weight a decomposition factor's name belongs to (None: not named as a factor, or with
    ``role`` not as that factor)."""
    r = factor_role(name)
    if r is None or (role is not None and r != role):
        return None
    return name[:-len(_FACTOR_SUFFIX[r])]


def _weight(cpt: int) -> list[BlockRole]:
    return [BlockRole.DC_G, BlockRole.DC_H] if cpt & CPT.NNR_CPT_DC else [BlockRole.WEIGHT]


def block_id_order(cpt: int) -> list[BlockRole]:
    """Roles in ``topology_elem_id_list`` order: weight (or G, H), LS, BN beta/gamma/mean/var, bias."""
    out = _weight(cpt)
    if cpt & CPT.NNR_CPT_LS:
        out.append(BlockRole.LS)
    if cpt & CPT.NNR_CPT_BN:
        out += BN_ROLES
    if cpt & CPT.NNR_CPT_BI:
        out.append(BlockRole.BIAS)
    return out


def block_coding_order(cpt: int) -> list[BlockRole]:
    """Roles in payload order: LS, bias, BN beta/gamma/mean/var, weight (or G, H)."""
    out: list[BlockRole] = []
    if cpt & CPT.NNR_CPT_LS:
        out.append(BlockRole.LS)
    if cpt & CPT.NNR_CPT_BI:
        out.append(BlockRole.BIAS)
    if cpt & CPT.NNR_CPT_BN:
        out += BN_ROLES
    return out + _weight(cpt)
