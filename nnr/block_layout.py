"""The roles of a unit's tensors and the ``NNR_PT_BLOCK`` layout (syntax.md §8.2).

An NDU carries one tensor (role ``TENSOR``, or one decomposition factor ``DC_G`` / ``DC_H``) or,
as ``NNR_PT_BLOCK``, a weight with the tensors that belong to it, as ``compressed_parameter_types``
says: local scaling (``NNR_CPT_LS``), batch norm (``NNR_CPT_BN``: beta, gamma, mean, variance),
bias (``NNR_CPT_BI``), the weight itself or its decomposition G, H (``NNR_CPT_DC``).

The block lists its ids weight-first (``topology_elem_id_list``: weight or G, H; LS; BN beta,
gamma, mean, var; bias) but codes its tensors LS-first (LS, bias, BN beta..var, weight or G, H):
:func:`block_id_order` and :func:`block_coding_order` are those two orders, for the decoder's
payload layout and the encoder's units alike.
"""

from __future__ import annotations

import enum

from nnr.units.types import CompressedParameterTypes as CPT

__all__ = ["BN_ROLES", "BlockRole", "block_coding_order", "block_id_order"]


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
