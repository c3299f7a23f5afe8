"""Class names with synonyms for the VLM's text side, per benchmark.

Each ready list is an ordered dict ``{dataset class: [synonyms...]}`` whose
keys are exactly the dataset class's ``METAINFO['classes']`` (in order), so a
list can be checked against the dataset it is used with. The VLM scores a
class by its best synonym: several everyday names for one land-cover class
help a CLIP model trained on web captions and RS captions alike.
"""
from typing import Dict, List, Mapping, Sequence, Tuple, Union

ClassNames = Union[str, Mapping[str, Sequence[str]], Sequence[Union[str, Sequence[str]]]]

_ISPRS_5 = {
    'impervious_surface': ['road', 'parking lot', 'pavement', 'impervious surface'],
    'building': ['building', 'roof', 'house'],
    'low_vegetation': ['low vegetation', 'grass', 'lawn'],
    'tree': ['tree', 'trees', 'forest'],
    'car': ['car', 'vehicle'],
}
# mmseg's PotsdamDataset / ISPRSDataset (Vaihingen) keep clutter as class 5
_ISPRS_6 = dict(_ISPRS_5, clutter=['background', 'clutter'])

RS_CLASS_NAMES: Dict[str, Dict[str, List[str]]] = {
    'nc_landsat': {
        'developed': ['developed area', 'urban area', 'buildings', 'road'],
        'agriculture': ['cropland', 'farmland', 'agricultural field'],
        'herbaceous': ['grassland', 'meadow', 'herbaceous vegetation'],
        'shrubland': ['shrubland', 'shrubs', 'bushes'],
        'forest': ['forest', 'trees', 'woodland'],
        'water': ['water', 'river', 'lake'],
    },
    # the DWL protocol: clutter ignored, 5 classes
    'potsdam': _ISPRS_5,
    'isprs': _ISPRS_6,
    'vaihingen': _ISPRS_6,
    'loveda': {
        'background': ['background', 'bare land'],
        'building': ['building', 'roof', 'house'],
        'road': ['road', 'street', 'highway'],
        'water': ['water', 'river', 'lake', 'pond'],
        'barren': ['barren land', 'bare soil', 'sand'],
        'forest': ['forest', 'trees', 'woodland'],
        'agricultural': ['farmland', 'cropland', 'agricultural field'],
    },
    'deepglobe': {
        'urban': ['urban land', 'buildings', 'city'],
        'agriculture': ['agricultural land', 'farmland', 'cropland'],
        'rangeland': ['rangeland', 'grassland', 'pasture'],
        'forest': ['forest', 'trees', 'woodland'],
        'water': ['water', 'river', 'lake'],
        'barren': ['barren land', 'bare soil', 'desert'],
    },
    'isaid': {
        'background': ['background'],
        'ship': ['ship', 'boat'],
        'store_tank': ['storage tank', 'oil tank'],
        'baseball_diamond': ['baseball diamond', 'baseball field'],
        'tennis_court': ['tennis court'],
        'basketball_court': ['basketball court'],
        'Ground_Track_Field': ['ground track field', 'running track'],
        'Bridge': ['bridge'],
        'Large_Vehicle': ['large vehicle', 'truck', 'bus'],
        'Small_Vehicle': ['small vehicle', 'car'],
        'Helicopter': ['helicopter'],
        'Swimming_pool': ['swimming pool'],
        'Roundabout': ['roundabout'],
        'Soccer_ball_field': ['soccer field', 'football field'],
        'plane': ['airplane', 'plane'],
        'Harbor': ['harbor', 'port', 'pier'],
    },
    'openearthmap': {
        'background': ['background'],
        'bareland': ['bare land', 'bare soil'],
        'rangeland': ['rangeland', 'grass', 'grassland'],
        'developed space': ['developed space', 'pavement', 'parking lot'],
        'road': ['road', 'street'],
        'tree': ['tree', 'trees', 'forest'],
        'water': ['water', 'river', 'lake'],
        'agriculture land': ['agricultural land', 'farmland', 'cropland'],
        'building': ['building', 'roof', 'house'],
    },
}


def resolve_class_names(class_names: ClassNames) -> Tuple[List[str], List[List[str]]]:
    """Return ``(class keys, synonyms per class)`` from a config value.

    Accepted forms: the name of a ready list (``'potsdam'``); a mapping
    ``{class: [synonyms]}``; a list whose items are a name or a list of
    synonyms (the first synonym then names the class).
    """
    if isinstance(class_names, str):
        if class_names not in RS_CLASS_NAMES:
            raise KeyError(f'no ready class-name list {class_names!r}; ready lists: '
                           f'{sorted(RS_CLASS_NAMES)}, or give a dict {{class: [synonyms]}}')
        class_names = RS_CLASS_NAMES[class_names]
    if isinstance(class_names, Mapping):
        keys = list(class_names)
        synonyms = [[s] if isinstance(s, str) else list(s) for s in class_names.values()]
    else:
        synonyms = [[s] if isinstance(s, str) else list(s) for s in class_names]
        keys = [s[0] if s else '' for s in synonyms]
    empty = [k for k, s in zip(keys, synonyms) if not s or not all(isinstance(x, str) and x for x in s)]
    if not keys or empty:
        raise ValueError(f'every class needs at least one non-empty name; '
                         f'bad classes: {empty or "no class given"}')
    return keys, synonyms


def check_class_names(keys: Sequence[str], dataset_classes: Sequence[str],
                      where: str = 'VLM class_names') -> None:
    """Fail unless the VLM's classes are the dataset's, in the same order."""
    if list(keys) != list(dataset_classes):
        raise ValueError(
            f'{where} {list(keys)} do not match the dataset classes '
            f'{list(dataset_classes)} (same names, same order needed: VLM '
            'channel i is compared with segmentor class i). Fix: use the ready '
            'list for this dataset (semiearth.vlm.RS_CLASS_NAMES) or a dict '
            'keyed by the dataset classes.')
