"""Quantities come out as Kubernetes stores them, checked against the kubernetes client's parser."""

from __future__ import annotations

import math

import pytest
from kubernetes.utils.quantity import parse_quantity

from mlspec.backends.rollout import quantity


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("0.5", "500m"), ("1", "1"), ("1.0", "1"), ("1000m", "1"), ("1.25", "1250m"), ("250m", "250m"),
     ("16", "16")],
)  # fmt: skip
def test_cpu(given: str, canonical: str) -> None:
    assert quantity.cpu(given) == canonical
    assert parse_quantity(canonical) == parse_quantity(given)


@pytest.mark.parametrize(
    ("given", "canonical"),
    [("1024Mi", "1Gi"), ("1.5Gi", "1536Mi"), ("1000M", "1G"), ("2000", "2k"), ("512Mi", "512Mi"),
     ("8Gi", "8Gi"), ("0.5Ki", "512"), ("1.5", "2")],
)  # fmt: skip
def test_memory(given: str, canonical: str) -> None:
    assert quantity.memory(given) == canonical
    assert parse_quantity(canonical) == math.ceil(parse_quantity(given))  # whole bytes
