import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402

import host as host_module  # noqa: E402
from fake_models import write_models_folder  # noqa: E402


@pytest.fixture(scope="session")
def comfyui_path() -> str:
    path = host_module.find_comfyui()
    if path is None:
        pytest.skip(host_module.SKIP_REASON)
    return path


@pytest.fixture(scope="session")
def host(comfyui_path) -> host_module.Host:
    """ComfyUI booted in this process with the pack and a models folder of random weights."""
    base = host_module.make_base_directory()
    write_models_folder(os.path.join(base, "models"))
    return host_module.Host(comfyui_path, base)
