"""The `slurm` fixture: a real single-node SLURM cluster for the session (or a clear skip)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from slurm_cluster import Cluster, missing, single_node_cluster


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if absent := missing():
        pytest.skip(
            f"SLURM is not installed ({', '.join(absent)} missing): ./dev.sh setup installs "
            "slurmctld, slurmd, slurm-client and munge"
        )
    if os.geteuid() != 0:
        pytest.skip("the test SLURM cluster runs its daemons as root")
    root: Path = tmp_path_factory.mktemp("slurm")
    with single_node_cluster(root) as cluster, pytest.MonkeyPatch.context() as mp:
        for key, value in cluster.env.items():
            mp.setenv(key, value)
        yield cluster
