"""The pack's model folder, registered with the host so extra_model_paths.yaml can add to it."""
import os

import folder_paths

MODEL_FOLDER = "streamingt2v"


def register_model_folder() -> None:
    """`models/streamingt2v`, plus any `streamingt2v:` entries the user's extra_model_paths.yaml added."""
    folder_paths.add_model_folder_path(MODEL_FOLDER, os.path.join(folder_paths.models_dir, MODEL_FOLDER), is_default=True)
    paths, extensions = folder_paths.folder_names_and_paths[MODEL_FOLDER]
    folder_paths.folder_names_and_paths[MODEL_FOLDER] = (paths, set(extensions) | folder_paths.supported_pt_extensions)


def model_files() -> list[str]:
    return folder_paths.get_filename_list(MODEL_FOLDER)


def model_path(name: str) -> str:
    path = folder_paths.get_full_path(MODEL_FOLDER, name)
    if path is None:
        searched = ", ".join(folder_paths.get_folder_paths(MODEL_FOLDER))
        raise FileNotFoundError(f"{name} is not in the {MODEL_FOLDER} models folder ({searched}); put the file there, "
                                "then refresh the node definitions (press R in the browser).")
    return path
