"""The images of a semi-supervised config as the VLM sees them: the labeled
and unlabeled datasets with only their loading steps, each image normalised
as the model's data preprocessor does. The image source of
``VLMPurifyHead(evidence='auto')`` and of the VLM tools."""
import copy
from typing import List

import numpy as np
import torch
from mmengine.config import Config
from mmseg.registry import DATASETS

LOAD_TYPES = ('LoadRSImageFromFile', 'LoadImageFromFile')


def build_loading_dataset(cfg: Config, split: str = 'unlabeled', with_labels: bool = False):
    """The ``train_dataloader.dataset.<split>`` dataset with only its loading
    steps: each item is the whole image as stored (no augmentation)."""
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset.get(split))
    if ds_cfg is None:
        raise ValueError(f'{cfg.filename}: train_dataloader.dataset has no {split!r} '
                         'dataset (a SemiDataset config is needed)')
    pipeline = [t for t in ds_cfg.pipeline if t['type'] in LOAD_TYPES]
    if with_labels:
        pipeline += [t for t in ds_cfg.pipeline if t['type'] == 'LoadAnnotations']
    ds_cfg.pipeline = pipeline
    return DATASETS.build(ds_cfg)


def model_data_preprocessor(cfg: Config) -> dict:
    """The data preprocessor config the built model normalises with:
    ``model.data_preprocessor``, or, for a teacher-student model without one
    (the zoo's configs), the wrapped segmentor's, as
    :class:`SemiEarthSegmentor` takes it."""
    dp = cfg.model.get('data_preprocessor')
    if not dp and 'segmentor' in cfg.model:
        dp = cfg.model.segmentor.get('data_preprocessor')
    if not dp or dp.get('mean') is None or dp.get('std') is None:
        raise ValueError(
            f'{cfg.filename}: no data preprocessor with mean/std in model.'
            'data_preprocessor or model.segmentor.data_preprocessor; the tools '
            'normalise images as the model does. Fix: set them in the config.')
    return dp


def normalize_image(img: np.ndarray, cfg: Config) -> torch.Tensor:
    """(H, W, C) image -> (1, C, H, W) float tensor normalised as the model's
    data preprocessor does (band order, mean, std)."""
    dp = model_data_preprocessor(cfg)
    x = torch.from_numpy(np.ascontiguousarray(img)).float()
    x = x[..., None] if x.ndim == 2 else x
    x = x.permute(2, 0, 1)
    if dp.get('bgr_to_rgb') and x.shape[0] == 3:
        x = x.flip(0)
    mean = torch.tensor(dp['mean'], dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(dp['std'], dtype=torch.float32).view(-1, 1, 1)
    if mean.shape[0] != x.shape[0]:
        raise ValueError(f'the data preprocessor has {mean.shape[0]} band means, the '
                         f'image {x.shape[0]} bands')
    return ((x - mean) / std)[None]


def image_names(dataset) -> List[str]:
    return [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]


class DatasetImages:
    """The images of a semi-supervised config by path, as the VLM sees them:
    the labeled and unlabeled datasets with only their loading steps, each
    image normalised as the model's data preprocessor does
    (:func:`normalize_image`). An :data:`ImageSource` for
    ``VLMPurifyHead(evidence='auto')``; ``labeled`` also loads the labels,
    for the calibration."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.unlabeled = build_loading_dataset(cfg)
        self.labeled = build_loading_dataset(cfg, 'labeled', with_labels=True)
        self.index = {}
        for dataset in (self.unlabeled, self.labeled):
            for i, path in enumerate(image_names(dataset)):
                self.index[path] = (dataset, i)

    def __call__(self, img_path: str) -> torch.Tensor:
        if img_path not in self.index:
            raise KeyError(f"'{img_path}' is not an image of {self.cfg.filename}'s labeled "
                           'or unlabeled set')
        dataset, i = self.index[img_path]
        return normalize_image(dataset[i]['img'], self.cfg)
