"""Packaging for the Comfy Registry and ComfyUI-Manager: pyproject.toml agrees with requirements.txt and the model catalog."""
import os
import re
import sys
import tomllib

import pytest

from st2v_modules.model_files.catalog import CATALOG

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RAW_MAIN = "https://raw.githubusercontent.com/streamingt2v/ComfyUI-StreamingT2V/main/"


def pyproject() -> dict:
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def requirement_lines(name: str) -> list[str]:
    with open(os.path.join(REPO, name)) as f:
        return [line.split("#", 1)[0].strip() for line in f if line.split("#", 1)[0].strip()]


def test_dependencies_are_requirements_txt_and_never_torch():
    runtime = requirement_lines("requirements.txt")
    assert pyproject()["project"]["dependencies"] == runtime
    assert not {r for r in runtime if re.match(r"torch\b|torchvision\b", r)}  # the host's own build, never pinned here
    assert not set(runtime) & set(requirement_lines("requirements-test.txt"))  # test-only tools stay out of the run


def test_ray_is_the_optional_distributed_extra():
    extras = pyproject()["project"]["optional-dependencies"]
    assert extras == {"distributed": requirement_lines("requirements-distributed.txt")}
    assert not {r for r in requirement_lines("requirements.txt") if r.startswith("ray")}


def test_project_meets_the_registry_rules():
    project = pyproject()["project"]
    assert re.fullmatch(r"[a-z][a-z0-9]*([._-][a-z0-9]+)*", project["name"]) and "comfyui" not in project["name"].lower()
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert project["license"] == {"file": "LICENSE"} and os.path.isfile(os.path.join(REPO, "LICENSE"))
    assert project["urls"]["Repository"].startswith("https://github.com/") and project["description"]


def test_tool_comfy_has_publisher_icon_and_the_catalog_models():
    comfy = pyproject()["tool"]["comfy"]
    assert comfy["PublisherId"] and comfy["DisplayName"] == "StreamingT2V" and comfy["includes"] == []
    assert re.fullmatch(r">=\d+\.\d+\.\d+", comfy["requires-comfyui"])
    assert comfy["Icon"].startswith(RAW_MAIN) and os.path.isfile(os.path.join(REPO, comfy["Icon"][len(RAW_MAIN):]))
    assert comfy["Models"] == [{"location": f"/{e.folder}/{e.path}", "model_url": e.url} for e in CATALOG]


@pytest.mark.host
def test_the_hosts_own_parser_reads_it(comfyui_path):
    sys.dont_write_bytecode = True  # the host folder is read-only
    sys.path.insert(0, comfyui_path)
    from comfy_config.config_parser import extract_node_configuration
    config = extract_node_configuration(REPO)
    assert config.project.name == "streamingt2v" and config.tool_comfy.publisher_id == "streamingt2v"
    assert config.project.supported_comfyui_version == pyproject()["tool"]["comfy"]["requires-comfyui"]
    assert config.project.supported_accelerators == ["GPU :: NVIDIA CUDA"]
    assert [m.location for m in config.tool_comfy.models] == [f"/{e.folder}/{e.path}" for e in CATALOG]
    assert config.project.urls.issues.endswith("/issues")
