from .export import ExportError, export_segmentor
from .plain_model import PlainModel, PlainModelError, load_plain_model
from .scene_inference import inference_scene, init_scene_model
from .vlm_tools import (VLM_CKPT_ENV, DatasetImages, build_loading_dataset,
                        build_purifier_vlm, load_semi_config, measure_confusion,
                        model_data_preprocessor, normalize_image, purifier_cfg)

__all__ = ['VLM_CKPT_ENV', 'DatasetImages', 'build_loading_dataset', 'build_purifier_vlm',
           'load_semi_config', 'measure_confusion', 'model_data_preprocessor',
           'normalize_image', 'purifier_cfg', 'inference_scene', 'init_scene_model',
           'ExportError', 'export_segmentor', 'PlainModel', 'PlainModelError',
           'load_plain_model']
