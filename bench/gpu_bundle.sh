#!/usr/bin/env bash
# What bench/full_size.py needs on a GPU machine that has PyTorch but no network, in the ignored folder .gpu/ of the
# repository (about 50 MiB, under the 64 MiB a command may carry): a copy of ComfyUI, the two key manifests, and wheels
# for the host's imports that such a machine lacks (av, torchsde and its trampoline; checked by importing ComfyUI with
# everything else of its requirements hidden). bench/README.md has the command that uses it.
#   bash bench/gpu_bundle.sh [COMFYUI_FOLDER] [SPEC_FOLDER]    (defaults: $COMFYUI_PATH, ../shared/spec)
set -euo pipefail
cd "$(dirname "$0")/.."
comfyui=${1:-${COMFYUI_PATH:?give the ComfyUI folder or set COMFYUI_PATH}}
spec=${2:-../shared/spec}
python=${PYTHON:-.venv/bin/python}
rm -rf .gpu
mkdir -p .gpu/spec .gpu/wheels
cp -r "$comfyui" .gpu/comfyui
rm -rf .gpu/comfyui/.git .gpu/comfyui/tests .gpu/comfyui/tests-unit
find .gpu/comfyui -name __pycache__ -prune -exec rm -rf {} +
cp "$spec/streamingt2v_keys.tsv" "$spec/enhancer_keys.tsv" .gpu/spec/
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .gpu/wheels av==18.1.0 torchsde==0.2.6 trampoline==0.1.2
size=$(du -sm .gpu | cut -f1)
tracked=$(git ls-files -z | xargs -0 du -cm | tail -1 | cut -f1)
echo "gpu_bundle: bundle_mib=$size tree_mib=$tracked total_mib=$((size + tracked)) limit_mib=64"
[ $((size + tracked)) -lt 64 ] || { echo "the bundle and the tree exceed the 64 MiB a command may carry" >&2; exit 1; }
