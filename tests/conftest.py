import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402

from helpers import host as host_module  # noqa: E402
from helpers.fake_models import write_models_folder  # noqa: E402


@pytest.fixture(scope="session")
def comfyui_path() -> str:
    path = host_module.find_comfyui()
    if path is None:
        if os.environ.get("STV_REQUIRE_HOST"):
            pytest.fail(host_module.SKIP_REASON)
        pytest.skip(host_module.SKIP_REASON)
    return path


@pytest.fixture(scope="session")
def models_dir(comfyui_path, tmp_path_factory) -> str:
    """A models folder of random weights, as a user has it after downloading ModelScope T2V."""
    path = str(tmp_path_factory.mktemp("models"))
    write_models_folder(path)
    return path


@pytest.fixture(scope="session")
def host(comfyui_path, models_dir) -> host_module.Host:
    """ComfyUI booted in this process with the pack installed."""
    base = host_module.make_base_directory()
    os.rmdir(os.path.join(base, "models"))
    os.symlink(models_dir, os.path.join(base, "models"))
    return host_module.Host(comfyui_path, base)
