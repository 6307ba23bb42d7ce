"""The pack's model folders, registered with the host so extra_model_paths.yaml can add to them."""
import os

import folder_paths

from ..st2v_modules.model_files.catalog import find

MODEL_FOLDER = "streamingt2v"
FLOW_FOLDER = find("raft_large").folder  # RAFT weights for the Video Metrics node's MAWE


def register_model_folder() -> None:
    """`models/streamingt2v` and `models/optical_flow`, plus any entries the user's extra_model_paths.yaml added."""
    for folder in (MODEL_FOLDER, FLOW_FOLDER):
        folder_paths.add_model_folder_path(folder, os.path.join(folder_paths.models_dir, folder), is_default=True)
        paths, extensions = folder_paths.folder_names_and_paths[folder]
        folder_paths.folder_names_and_paths[folder] = (paths, set(extensions) | folder_paths.supported_pt_extensions)


def model_files(folder: str = MODEL_FOLDER) -> list[str]:
    return folder_paths.get_filename_list(folder)


def missing_file_message(name: str, folder: str = MODEL_FOLDER) -> str:
    searched = ", ".join(folder_paths.get_folder_paths(folder))
    return (f"{name} is not in the {folder} models folder ({searched}); put the file there, then refresh the node "
            "definitions (press R in the browser).")


def model_path(name: str, folder: str = MODEL_FOLDER) -> str:
    path = folder_paths.get_full_path(folder, name)
    if path is None:
        raise FileNotFoundError(missing_file_message(name, folder))
    return path
