"""The pack's model folders, registered with the host so extra_model_paths.yaml can add to them, and what to say
when a file a node needs is not there."""
import os

import folder_paths

from ..st2v_modules.model_files.catalog import DOWNLOAD_COMMAND, ModelFile, find, for_file
from ..st2v_modules.model_files.downloader import target_path

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


def folder_dir(entry: ModelFile) -> str:
    """Where a new file goes: the folder's first path (the user's extra paths come after the default)."""
    if entry.folder in folder_paths.folder_names_and_paths:
        return folder_paths.get_folder_paths(entry.folder)[0]
    return os.path.join(folder_paths.models_dir, entry.folder)


def missing_file_message(name: str, folder: str = MODEL_FOLDER) -> str:
    return missing_files_message({"": name}, folder)


def missing_files_message(names: dict[str, str], folder: str = MODEL_FOLDER) -> str:
    """Missing files (input -> file name) in one message: for each file the catalog knows its size, URL and where it
    goes, then both ways to fetch them all; for any other file, where we looked."""
    facts, entries = [], []
    for input_name, name in names.items():
        entry = for_file(folder, name)
        label = f"{input_name}: " if input_name else ""
        if entry is None:
            searched = ", ".join(folder_paths.get_folder_paths(folder))
            facts.append(f"{label}{name} is not in the {folder} models folder ({searched}); put the file there or choose another one.")
        else:
            entries.append(entry)
            facts.append(f"{label}{name} is missing: {entry.size} from {entry.url}, to go to {target_path(entry, folder_dir(entry))}.")
    if entries:
        names = [e.name for e in entries]
        one = len(entries) == 1
        facts.append(f"Fetch {'it with a Download Models (StreamingT2V) node' if one else 'them with Download Models (StreamingT2V) nodes'} "
                     f"set to model {' and '.join(names)} with download on (the shipped workflows hold "
                     f"{'one, muted: select it' if one else 'them, muted: select them'} and press Ctrl+M), or in a terminal in "
                     f"the pack's folder with ComfyUI's Python: {DOWNLOAD_COMMAND} {' '.join(names)}. Then run the workflow again.")
    return " ".join(facts)


def check_model_files(node: str, names: dict[str, str | None], folder: str = MODEL_FOLDER) -> bool | str:
    """A node's `validate_inputs` answer for its file inputs (input -> file name; None when wired, checked later):
    True, or every missing one in one message that starts with the node's display name."""
    missing = {k: v for k, v in names.items() if v is not None and folder_paths.get_full_path(folder, v) is None}
    return f"{node}: {missing_files_message(missing, folder)}" if missing else True


def model_path(name: str, folder: str = MODEL_FOLDER) -> str:
    path = folder_paths.get_full_path(folder, name)
    if path is None:
        raise FileNotFoundError(missing_file_message(name, folder))
    return path
