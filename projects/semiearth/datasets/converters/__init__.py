"""What the benchmark converters share: finding and reading raw files (zips or
folders), decoding label encodings, cutting padded crops, seeded nested
splits, and the convert-once driver. ``tools/dataset_converters/*.py`` are
thin command lines over this package."""
from .cli import base_parser, check_count, collect_pairs, convert, parse, run
from .labels import (IGNORE, colour_code, decode_index_label, decode_rgb_label,
                     index_code, isprs_colours)
from .raw_files import find_raw, read_image, read_label, tiles_by_id
from .splits import (nested_labeled, parse_split_list, random_split, ratio_tag,
                     ratio_value, write_splits)
from .tiling import class_pixels, convert_tiles, crop_grid

__all__ = [
    'base_parser', 'parse', 'collect_pairs', 'check_count', 'convert', 'run', 'IGNORE',
    'decode_rgb_label', 'decode_index_label', 'isprs_colours', 'colour_code', 'index_code',
    'find_raw', 'tiles_by_id', 'read_image', 'read_label', 'random_split',
    'nested_labeled', 'ratio_tag', 'ratio_value', 'write_splits', 'parse_split_list',
    'crop_grid', 'convert_tiles', 'class_pixels'
]
