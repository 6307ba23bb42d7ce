#!/usr/bin/env bash
# Installs the pack into a ComfyUI and starts it: scripts/setup.sh [COMFYUI_DIR]
# COMFYUI_DIR defaults to the ComfyUI folder this pack sits in (ComfyUI/custom_nodes/<pack>).
# Links the pack into COMFYUI_DIR/custom_nodes/ unless it already sits there.
# Uses ComfyUI's own venv (venv/ or .venv/) when it has one, else $PYTHON or python3.
set -euo pipefail
pack="$(cd "$(dirname "$0")/.." && pwd)"
comfyui="$(cd "${1:-${COMFYUI_PATH:-$pack/../..}}" && pwd)"
[ -f "$comfyui/main.py" ] || { echo "No ComfyUI at $comfyui: pass its folder as the first argument." >&2; exit 2; }
python="${PYTHON:-python3}"
for candidate in "$comfyui/venv/bin/python" "$comfyui/.venv/bin/python"; do
    [ -x "$candidate" ] && python="$candidate" && break
done
"$python" -m pip install -q -r "$comfyui/requirements.txt" requests
"$python" -m pip install -q -r "$pack/requirements.txt"
link="$comfyui/custom_nodes/$(basename "$pack")"
[ -e "$link" ] || ln -s "$pack" "$link"
[ "$link" -ef "$pack" ] || { echo "$link is another copy of the pack: remove it, or run this script from it." >&2; exit 2; }
# the pack's commands (download, convert) look here for their ComfyUI when run outside custom_nodes/
echo "$comfyui" > "$pack/.comfyui_path"
mkdir -p "$comfyui/models/streamingt2v"
echo "$(basename "$pack") is in $link; ComfyUI's Python, for the pack's python -m commands: $python"
device_flag=()
"$python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() or torch.backends.mps.is_available() else 1)" || device_flag=(--cpu)
cd "$comfyui"
exec "$python" main.py "${device_flag[@]}" "${@:2}"
