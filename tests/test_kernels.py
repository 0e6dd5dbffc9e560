"""Simplex kernels: the distances they use, and that they are valid (positive semi-definite) covariances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mixopt.gp.kernels import SimplexKernel, jensen_shannon, total_variation


def test_distances_of_identical_and_disjoint_mixtures():
    a = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], dtype=torch.double)
    b = torch.tensor([[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]], dtype=torch.double)
    for distance in (total_variation, jensen_shannon):
        d = distance(a, b)
        assert d.shape == (2, 2)
        assert d[0, 0].item() == pytest.approx(1.0) and d[1, 1].item() == pytest.approx(0.0, abs=1e-12)
    assert total_variation(a, b)[1, 0].item() == pytest.approx(1.0)
    # JS(0.5/0.5/0 || 0/0/1): disjoint supports, so 1 bit
    assert jensen_shannon(a, b)[1, 0].item() == pytest.approx(1.0)


@pytest.mark.parametrize("distance", ["tv", "js"])
def test_kernel_matrices_are_positive_semidefinite(distance):
    rng = np.random.default_rng(0)
    w = torch.tensor(rng.dirichlet(np.full(5, 0.3), size=60), dtype=torch.double)
    kernel = SimplexKernel(distance).double()
    kernel.lengthscale = 0.2
    with torch.no_grad():
        K = kernel(w).to_dense()
    assert torch.allclose(K, K.T) and torch.allclose(K.diagonal(), torch.ones(60, dtype=torch.double))
    assert torch.linalg.eigvalsh(K).min().item() > -1e-9


def test_unknown_distance_is_an_error():
    with pytest.raises(ValueError, match="distance must be one of"):
        SimplexKernel("euclid")
