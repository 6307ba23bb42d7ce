"""The headless runner never ends in a traceback: workflow files that are not what ComfyUI saves exit 2 naming the
problem, before any server is contacted (the server's death mid-run is tested in test_faults_crash.py)."""
import json
import os
import subprocess
import sys

import pytest

from helpers.comfy_server import free_port
from helpers.graphs import text_to_video

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_file(tmp_path, content: bytes) -> subprocess.CompletedProcess:
    path = tmp_path / "workflow.json"
    path.write_bytes(content)
    closed_port = f"http://127.0.0.1:{free_port()}"  # the file is checked before a server is needed
    return subprocess.run([sys.executable, "-m", "st2v_modules.run_workflow", str(path), "--url", closed_port], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def ui_workflow(node: dict) -> str:
    return json.dumps({"nodes": [node], "links": [], "version": 0.4})


def api_without_class_type() -> str:
    graph = text_to_video()
    del graph["7"]["class_type"]
    return json.dumps(graph)


CASES = [
    ("a_list", json.dumps([{"id": 1, "type": "KSampler"}]), "error: the workflow is a JSON list; expected a JSON object"),
    ("a_string", json.dumps("KSampler"), "error: the workflow is a JSON string; expected a JSON object"),
    ("ui_node_without_type", ui_workflow({"id": 5, "widgets_values": []}),
     "error: node 5 (entry 0 of 'nodes') has no 'type' (its node class) or no 'id'"),
    ("ui_node_not_an_object", json.dumps({"nodes": [3], "links": []}), "error: node ? (entry 0 of 'nodes') has no 'type'"),
    ("ui_nodes_not_a_list", json.dumps({"nodes": {"1": {}}, "links": []}), "error: the workflow's 'nodes' and 'links' must be lists"),
    ("api_node_without_class_type", api_without_class_type(), "error: node 7 of the API workflow has no 'class_type'"),
    ("api_inputs_not_an_object", json.dumps({"1": {"class_type": "KSampler", "inputs": [1, 2]}}),
     "error: node 1 of the API workflow has no 'class_type' (its node class) or its 'inputs' are not an object"),
    ("empty", "{}", "error: the workflow holds no nodes."),
    ("not_json", '{"nodes": [', "is not a readable workflow file (Expecting value"),
    ("not_utf8", b"\xff\xfe{", "is not a readable workflow file ("),
]


@pytest.mark.parametrize("case, content, message", CASES, ids=[c[0] for c in CASES])
def test_a_workflow_file_comfyui_would_not_save_exits_2_naming_the_problem(tmp_path, case, content, message):
    result = run_file(tmp_path, content if isinstance(content, bytes) else content.encode())
    assert result.returncode == 2 and result.stdout == ""
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
