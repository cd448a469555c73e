"""The replay corpus of issue 17 (fuzz/surfaces.py): every surface users touch, each reproducer run
in a forked child under 2 GiB of address space and 20 s of CPU, each ending as documented."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fuzz"))

import surfaces  # noqa: E402

# the documented end of each reproducer, by name prefix (first match)
EXPECTED = [
    ("dup_name_in_aggregate_info", "ok"),  # the CLI: one line, exit 1
    ("dup_name_", "nnr_error"),
    ("record_", "ok"),
    ("size1_codebook_", "nnr_error"),
    ("one_d_tensor_", "nnr_error"),
    ("session_many_tiny_updates", "nnr_error"),
    ("history_copied_per_update_ndu", "nnr_error"),
    ("workers_many_ndus", "ok"),
    ("open_skips_unit_limit", "nnr_error"),
    ("load_state_record_huge_shape", "usage_error"),
    ("safetensors_", "usage_error"),
    ("hf_index_", "usage_error"),
    ("hf_tensor_in_two_shards", "usage_error"),
    ("hf_decode_config_hint", "ok"),
    ("npz_big_endian", "ok"),
    ("npz_member_name_traversal", "ok"),  # the CLI: one line, exit 2, nothing written
    ("npz_", "usage_error"),
    ("pt_garbage_cli", "ok"),
    ("pt_", "usage_error"),
    ("", "ok"),  # writers, CLI output, sessions: a result, checked by the reproducer
]


def expected(name: str) -> str:
    return next(cls for prefix, cls in EXPECTED if name.startswith(prefix))


@pytest.mark.parametrize("name", sorted(surfaces.REPRODUCERS))
def test_reproducer_ends_as_documented(name: str) -> None:
    if name.startswith("pt_") or name.endswith("_pt") or "over_input_pt" in name:
        pytest.importorskip("torch")
    res = surfaces.limited(surfaces.REPRODUCERS[name])
    assert res["cls"] == expected(name), res


def test_memory_per_element_of_a_1d_tensor():
    """The regression of issue 17: a 10 KB payload claiming a 1-D tensor of 10,240,000 coded
    elements grew the process by 1.3 GB (one object per row); the bound is ~20 bytes per
    element (docs/robustness.rst), checked at 40."""
    res = surfaces.limited(surfaces.REPRODUCERS["one_d_tensor_10m_elements"])
    assert res["cls"] == "nnr_error", res
    assert res["peak_growth"] < 40 * 10_240_000, res
