"""A shipped workflow queued before its model files are downloaded: refused before anything runs, in one error that
names every missing file with its size, URL and folder, and how to fetch them (in the browser and without it)."""
import os

import pytest

from helpers.host import HostValidationError
from helpers.workflow_cases import WORKFLOWS_DIR, load, object_info
from st2v_modules.headless.client import refusal_message
from st2v_modules.headless.conversion import ui_to_api
from st2v_modules.model_files.catalog import find

pytestmark = pytest.mark.host
# loader node id (as shipped) -> its display name and the catalog files it misses on a fresh install
TEXT_TO_VIDEO = {"2": ("Load ModelScope T2V Model", ["modelscope_t2v_unet"]), "3": ("Load StreamingT2V", ["streamingt2v"])}
ENHANCED = {**TEXT_TO_VIDEO, "15": ("Load Enhancer (MS-Vid2Vid-XL)", ["enhancer_unet", "enhancer_vae"])}


def queued_as_shipped(host, name: str) -> dict:
    """The workflow as the browser queues it, with the model file names it ships with."""
    return ui_to_api(load(os.path.join(WORKFLOWS_DIR, name + ".json")), object_info(host.nodes))


@pytest.mark.parametrize("name, loaders", [("streamingt2v_text_to_video", TEXT_TO_VIDEO),
                                           ("streamingt2v_text_to_video_enhanced", ENHANCED)])
def test_every_missing_file_is_named_with_size_url_and_folder_before_anything_runs(host, name, loaders):
    prompt = queued_as_shipped(host, name)
    with pytest.raises(HostValidationError) as refused:  # validation: no node ran
        host.run(prompt)
    errors = refused.value.node_errors
    assert set(loaders) <= set(errors)
    for node_id, (display_name, files) in loaders.items():
        (message,) = {e["details"].split(" - ", 1)[1] for e in errors[node_id]["errors"]}
        assert message.startswith(display_name + ": ")
        for entry in (find(f) for f in files):
            target = os.path.join(host.folder_paths.get_folder_paths(entry.folder)[0], *entry.path.split("/"))
            assert f"{os.path.basename(entry.path)} is missing: {entry.size} from {entry.url}, to go to {target}." in message
        assert f"StreamingT2V) node{'s' if len(files) > 1 else ''} set to model {' and '.join(files)} with download on" in message
        assert f"python -m st2v_modules.download {' '.join(files)}. Then run the workflow again." in message
        assert "press R" not in message

    text = refusal_message({"error": refused.value.error, "node_errors": errors}, prompt)  # what the headless runner prints
    every = [f for _, (_, files) in sorted(loaders.items(), key=lambda item: int(item[0])) for f in files]
    assert text.endswith("Without the browser, fetch every missing model file in the pack's folder with ComfyUI's Python: "
                         f"python -m st2v_modules.download {' '.join(every)}; then run this command again.")
    for node_id, (display_name, _) in loaders.items():
        assert text.count(f"  node {node_id}: {display_name}: ") == 1


def test_a_file_the_catalog_does_not_know_names_the_folders_searched(host):
    prompt = queued_as_shipped(host, "streamingt2v_extend_your_video")
    prompt["2"]["inputs"]["ckpt_name"] = "my_repack.safetensors"
    with pytest.raises(HostValidationError) as refused:
        host.run(prompt)
    (message,) = {e["details"] for e in refused.value.node_errors["2"]["errors"]}
    searched = ", ".join(host.folder_paths.get_folder_paths("streamingt2v"))
    assert message == (f"ckpt_name - Load StreamingT2V: ckpt_name: my_repack.safetensors is not in the streamingt2v models "
                       f"folder ({searched}); put the file there or choose another one.")
