"""The unit context: what the syntax of an NNR unit depends on from the units before it.

``general_profile_idc`` (NNR_STR), the model parameter set in force (NNR_MPS: its
``mps_topology_indexed_reference_flag`` and ``mps_parent_signalling_enabled_flag``), the layer
parameter set in force (NNR_LPS, within its stream), the topology REFLIST (NNR_TPL with
``NNR_TPL_REFLIST``) and the out-of-band values an application supplies.  Every unit structure's
``read`` and ``write`` take it; its ``apply`` records what the unit leaves in force, so the
decoder and the stream writer follow the same rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nnr.units.compressed_data_unit import OutOfBandParameters
    from nnr.units.layer_parameter_set import LayerParameterSet
    from nnr.units.model_parameter_set import ModelParameterSet

OutOfBandLookup = Callable[[str], "OutOfBandParameters | None"]


@dataclass
class UnitContext:
    """State carried from unit to unit (see module docstring)."""

    general_profile_idc: int | None = None  # None: no NNR_STR yet
    mps: ModelParameterSet | None = None
    lps: LayerParameterSet | None = None
    reflist: list[str] | None = None
    out_of_band: OutOfBandLookup | None = None

    @property
    def gpi(self) -> int:
        """``general_profile_idc`` (0 before any start unit)."""
        return self.general_profile_idc or 0

    @property
    def mps_topology_indexed_reference_flag(self) -> int:
        return self.mps.mps_topology_indexed_reference_flag if self.mps is not None else 0

    @property
    def mps_parent_signalling_enabled_flag(self) -> int:
        """The flag as it conditions NDU header syntax: signalled in edition 2 only."""
        if self.mps is None or self.gpi != 1:
            return 0
        return self.mps.mps_parent_signalling_enabled_flag

    def start(self, general_profile_idc: int) -> None:
        """A start unit: a new profile, no MPS, no REFLIST in force."""
        self.general_profile_idc = general_profile_idc
        self.mps = None
        self.reflist = None
