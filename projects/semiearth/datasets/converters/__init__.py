"""What the benchmark converters share: finding raw files (zips or folders),
decoding label encodings, cutting padded crops, seeded nested splits, and
the convert-once driver. tools/dataset_converters/*.py are thin CLIs."""
from .labels import decode_index_label, decode_rgb_label
from .raw_files import find_raw
from .splits import nested_labeled, random_split, ratio_tag, write_splits
from .tiling import convert_tiles, crop_grid, up_to_date

__all__ = ['decode_rgb_label', 'decode_index_label', 'find_raw', 'random_split',
           'nested_labeled', 'ratio_tag', 'write_splits', 'crop_grid', 'convert_tiles', 'up_to_date']
