"""The syntax structures of an NNR bitstream: one module per structure (or family of structures).

One convention for all of them: a structure is a dataclass whose fields carry the syntax element
names; ``read`` (a classmethod) and ``write`` mirror each other element for element, inside
``r.structure(name)`` / ``w.structure(name)``, so reading and writing trace alike.

* Unit structures (one per NNR unit type, :data:`nnr.units.dispatch.UNIT_STRUCTURES`):
  ``read(r, ctx)``, ``write(w, ctx)`` and ``apply(ctx)`` with the
  :class:`~nnr.units.context.UnitContext` (profile, MPS / LPS in force, REFLIST, out-of-band values).
* Structures inside a unit take the standard's parameters instead (``integer_codebook()``'s
  element-name suffix, ``topology_elements_ids_list( topologyIndexedFlag )``,
  ``cabac_entry_point_list( numBlockRowsMinus1, dq_flag )``).
"""
