"""The closed loop of a bench: policies under test, episodes, the device session, the run store."""

from qhil.bench.policies import (
    DeviceFloat32,
    DeviceInteger,
    HostFloat,
    PolicyUnderTest,
    resolve_policies,
)
from qhil.bench.results import EpisodeResult
from qhil.bench.runner import VariantResult, run_bench_episode
from qhil.bench.session import DeviceSession
from qhil.bench.store import RunStore

__all__ = ["PolicyUnderTest", "HostFloat", "DeviceFloat32", "DeviceInteger", "resolve_policies",
           "EpisodeResult", "VariantResult", "run_bench_episode", "DeviceSession", "RunStore"]
