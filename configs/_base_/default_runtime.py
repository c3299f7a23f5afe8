# mmseg's runtime, plus the import that registers SemiEarth's components
# (and applies its CPU-stack shims, see projects/semiearth/compat.py).
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(imports=['semiearth'], allow_failed_imports=False)
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
