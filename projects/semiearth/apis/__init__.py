from .vlm_tools import (VLM_CKPT_ENV, build_loading_dataset, build_purifier_vlm,
                        load_semi_config, model_data_preprocessor, normalize_image,
                        purifier_cfg)

__all__ = ['VLM_CKPT_ENV', 'build_loading_dataset', 'build_purifier_vlm',
           'load_semi_config', 'model_data_preprocessor', 'normalize_image', 'purifier_cfg']
