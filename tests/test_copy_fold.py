"""The conversion's one pass over each tensor (issue 23): the C-ordered copy, its CRC-32C checksum and its finite
check folded over parts while they are in the cache. Checked against google_crc32c over the whole bytes at once
and numpy's own transposed copy, on a kernel large enough for the tiled copy on several threads."""

from __future__ import annotations

import google_crc32c
import numpy as np
import pytest

from albert_bridge.arrays import Scratch, contiguous_folded
from albert_bridge.convert import _digest_part, crc32c_combine, tensor_digest


@pytest.mark.parametrize("sizes", [(0, 5), (5, 0), (1, 1), (7, 4096), (3 << 20, 12345), (1000, 1, 999_999)])
def test_crc32c_of_parts_combines_to_the_crc32c_of_the_whole(sizes):
    rng = np.random.default_rng(len(sizes) + sum(sizes))
    parts = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in sizes]
    digest = 0
    for part in parts:
        digest = crc32c_combine(digest, google_crc32c.value(part), len(part))
    assert digest == google_crc32c.value(b"".join(parts))


def _fold(array: np.ndarray, scratch: Scratch | None = None) -> tuple[np.ndarray, int, bool]:
    out, parts = contiguous_folded(array, scratch, lambda part: _digest_part(part, check_finite=True))
    digest = 0
    for crc, nbytes, _ in parts:
        digest = crc32c_combine(digest, crc, nbytes)
    return out, digest, all(finite for _, _, finite in parts)


@pytest.mark.parametrize("shape", [(600, 300), (300, 601), (40, 30)])  # tiled on 2+ threads, ragged edge, copyto
@pytest.mark.parametrize("transposed", [True, False])
def test_the_folded_copy_is_numpys_copy_and_its_digest_the_one_pass_digest(shape, transposed):
    kernel = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    view = kernel.T if transposed else kernel
    out, digest, finite = _fold(view, Scratch())
    assert out.flags.c_contiguous and out.tobytes() == np.ascontiguousarray(view).tobytes()
    assert digest == google_crc32c.value(np.ascontiguousarray(view).tobytes()) == tensor_digest(view)
    assert finite


@pytest.mark.parametrize("where", [(0, 0), (-1, -1), (299, 37)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_nonfinite_value_in_any_part_of_a_copied_kernel_is_found(where, bad):
    kernel = np.random.default_rng(1).standard_normal((300, 601)).astype(np.float32)  # its copy: 2 threads
    kernel[where] = bad
    out, digest, finite = _fold(kernel.T)
    assert not finite
    assert digest == google_crc32c.value(np.ascontiguousarray(kernel.T).tobytes())
