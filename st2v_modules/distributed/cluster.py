"""Connecting to Ray: an existing cluster, or one started on this machine that listens on 127.0.0.1 only. The
package travels to the cluster's workers with the job (Ray's py_modules), so only ComfyUI, its Python and the pack
need to be installed on each node."""
from __future__ import annotations

import os

PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Ray's switch for a one-machine cluster on the loopback address; read when ray is imported
LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def connect(address: str | None, cpus: int | None = None) -> None:
    """`address`: "auto" (the cluster `ray start` set up on this machine), host:port, or None for a new local cluster
    of `cpus` logical CPUs (default: this machine's) on 127.0.0.1. Call before anything imports ray."""
    if address is None:
        os.environ[LOCAL_ONLY] = "0"
    import ray
    ray.init(address=address or "local", num_cpus=cpus if address is None else None, include_dashboard=False,
             log_to_driver=False, configure_logging=False,
             runtime_env={"py_modules": [PACKAGE], "excludes": ["__pycache__"]})


def disconnect() -> None:
    """Leave the cluster; a local one stops with its processes."""
    import ray
    ray.shutdown()
