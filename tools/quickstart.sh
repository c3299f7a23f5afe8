#!/usr/bin/env bash
# The main job, from a fresh clone: set up .venv, convert the embedded NC
# Landsat scene, convert the ImageNet MobileNetV2 weights, then train and test
# the default methods over 3 seeds (tools/quickstart.py; arguments are passed
# on: --methods unimatch_v2 unimatch ... or --methods all for the other rows).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash tools/setup_env.sh
PY=.venv/bin/python
export PYTHONWARNINGS=ignore
echo "[quickstart] preparing data/nc_landsat"
$PY tools/dataset_converters/nc_landsat.py --out data/nc_landsat
ckpt=checkpoints/mobilenet_v2_imagenet_ms6.pth
if [ ! -f "$ckpt" ]; then
  echo "[quickstart] converting ImageNet MobileNetV2 weights -> $ckpt"
  $PY tools/model_converters/mobilenetv2_torchvision2mmseg.py "$ckpt" \
    --in-channels 6 --rgb-channels 2 1 0
fi
$PY tools/quickstart.py "$@"
echo "[quickstart] total wall time: $(( $(date +%s) - start )) s"
