#!/usr/bin/env bash
# Runs the whole test suite: builds a virtual environment with the host's and the tests' requirements
# (once), then pytest. Host tests use COMFYUI_PATH, or the ComfyUI this pack is installed in (scripts/setup.sh's link too).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${STV_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
"$venv/bin/python" -c "import torch, torchvision" 2>/dev/null || "${pip[@]}" torch torchvision
comfyui="${COMFYUI_PATH:-$("$venv/bin/python" -c "from st2v_modules.model_files.location import find_comfyui; print(find_comfyui() or '')")}"
if [ -f "$comfyui/requirements.txt" ] && [ -f "$comfyui/main.py" ]; then
    # requests: the host imports it but does not list it
    "${pip[@]}" -r "$comfyui/requirements.txt" requests
fi
"${pip[@]}" -r requirements.txt -r requirements-test.txt -r requirements-distributed.txt
exec "$venv/bin/python" -m pytest tests "$@"
