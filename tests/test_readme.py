"""README.md stays true: its node table is the nodes' schemas, its model table the catalog, its commands real."""
import importlib.util
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("update_readme", os.path.join(REPO, "scripts", "update_readme.py"))
update_readme = importlib.util.module_from_spec(spec)
spec.loader.exec_module(update_readme)


def readme() -> str:
    with open(os.path.join(REPO, "README.md")) as f:
        return f.read()


@pytest.mark.host
def test_node_and_model_tables_are_current(host):
    current = readme()
    expected = update_readme.apply(current, update_readme.tables(host.nodes.NODE_CLASS_MAPPINGS))
    assert current == expected, f"README.md's generated tables are stale; regenerate them with: {update_readme.COMMAND}"


@pytest.mark.host
def test_node_table_lists_every_node_with_its_schema(host):
    table = update_readme.node_table(host.nodes.NODE_CLASS_MAPPINGS)
    ours = [n for n in host.nodes.NODE_CLASS_MAPPINGS if n.startswith("STV_")]
    assert len(table.splitlines()) == 2 + len(ours)
    row = next(line for line in table.splitlines() if "(`STV_DownloadModels`)" in line)
    assert row.startswith("| Download Models (StreamingT2V) (`STV_DownloadModels`) | StreamingT2V/loaders | `model`, `download` | `path` STRING |")


def test_apply_replaces_only_the_marked_block_and_refuses_a_missing_one():
    text = "intro\n<!-- models:begin (generated) -->\nold\n<!-- models:end -->\noutro\n"
    assert update_readme.apply(text, {"models": "new"}) == "intro\n<!-- models:begin (generated) -->\nnew\n<!-- models:end -->\noutro\n"
    with pytest.raises(ValueError, match="no <!-- nodes:begin -->"):
        update_readme.apply(text, {"nodes": "x"})


def test_readme_shows_the_preview_and_the_commands_that_exist():
    text = readme()
    assert "![" in text and "(docs/workflow.png)" in text
    for command in ("bash scripts/setup.sh", "bash scripts/test.sh"):
        assert command in text
    with open(os.path.join(REPO, ".ci", "run")) as f:
        assert "bash scripts/test.sh" in f.read()  # CI runs the README's test command verbatim
    for module in set(re.findall(r"python -m (st2v_modules\.[\w.]+)", text)):
        assert os.path.isfile(os.path.join(REPO, *module.split(".")) + ".py") or \
            os.path.isfile(os.path.join(REPO, *module.split("."), "__main__.py")), module
    assert "comfy node install streamingt2v" in text
