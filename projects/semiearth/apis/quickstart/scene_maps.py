"""The quick start's last step: the whole NC Landsat scene mapped with each
method's median-seed best checkpoint (:func:`inference_scene`).

The scene is read and stretched by the NC Landsat converter
(``tools/dataset_converters/nc_landsat.py``, which is not part of the
package), passed in as ``converter``: any object with ``default_source()``,
``read_scene(src) -> (bands, strata)``, ``to_tiles_input(bands, strata) ->
(img, label, valid, stats)``, ``BANDS`` and ``RGB``, so that the scene is
stretched exactly as the training tiles were."""
import json
import os
import os.path as osp
from typing import List, Optional, Tuple

import numpy as np

from ..scene_inference import inference_scene, init_scene_model
from .figures import colourise, median_seed, pyplot
from .settings import DEFAULT_DATA_ROOT


def write_scene_input(path: str, converter, src: Optional[str] = None):
    """Write the whole NC Landsat scene as the models take it: the
    converter's six uint8 bands 10/20/30/40/50/70 (2-98 percentile stretch to
    1..255, band 70's holes filled, nodata 0), with the source rasters' CRS
    and transform. Returns (image H x W x 6, label H x W with 255 = ignore)."""
    import rasterio
    src = src or converter.default_source()
    bands, strata = converter.read_scene(src)
    img, label, _, _ = converter.to_tiles_input(bands, strata)
    with rasterio.open(osp.join(src, f'lsat7_2000_{converter.BANDS[0]}.tif')) as ref:
        crs, transform = ref.crs, ref.transform
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with rasterio.open(path, 'w', driver='GTiff', height=img.shape[0], width=img.shape[1],
                       count=img.shape[2], dtype='uint8', crs=crs, transform=transform,
                       nodata=0, compress='deflate') as dst:
        dst.write(img.transpose(2, 0, 1))
        for i, band in enumerate(converter.BANDS, 1):
            dst.set_band_description(i, f'lsat7_2000_{band}')
    return img, label


def scene_checkpoint(record: dict, work_dir: str) -> Tuple[str, int, float]:
    """The median-seed best checkpoint of a method (as predictions.png), found
    in ``work_dir`` (results.json's paths are relative to where the run was
    started); returns (path, seed, test mIoU)."""
    i = median_seed(record)
    seed = record['seeds'][i]
    path = osp.join(work_dir, record['method'], f'seed{seed}',
                    osp.basename(record['checkpoints'][i]))
    if not osp.isfile(path):
        raise FileNotFoundError(f"{record['method']} seed {seed}: checkpoint '{path}' is "
                                f"missing (results.json lists {record['checkpoints'][i]}). "
                                'Fix: rerun the quick start for this work dir.')
    return path, seed, record['miou_per_seed'][i]


def trained_records(work_dir: str, records: Optional[List[dict]] = None) -> List[dict]:
    """The records of the methods that ran (``records``, default
    ``work_dir``'s results.json)."""
    if records is None:
        path = osp.join(work_dir, 'results.json')
        if not osp.isfile(path):
            raise FileNotFoundError(f"no '{path}'. Fix: give the --work-dir of a finished "
                                    'quick start.')
        with open(path) as f:
            records = json.load(f)
    records = [r for r in records if r.get('checkpoints')]  # not-run methods have none
    if not records:
        raise ValueError(f'{work_dir}/results.json lists no trained method to map')
    return records


def map_scene(record: dict, work_dir: str, out_dir: str, scene_tif: str, gt: np.ndarray,
              data_root: str, root: str, window=None, overlap=None):
    """Map the scene with one method; returns (its scene_maps.json entry,
    the map, the model's dataset_meta)."""
    import rasterio
    ckpt, seed, miou = scene_checkpoint(record, work_dir)
    model = init_scene_model(osp.join(root, record['config']), ckpt, cfg_options={
        'test_dataloader.dataset.data_root': data_root})
    out = osp.join(out_dir, f"scene_{record['method']}.tif")
    print(f"[quickstart] scene map of {record['method']} ({model.which}, seed {seed}, "
          f'{osp.basename(ckpt)}) -> {out}', flush=True)
    res = inference_scene(model, scene_tif, out, window=window, overlap=overlap,
                          progress=False)
    print(f"   {res['windows_run']} windows of {res['window']} px (overlap "
          f"{res['overlap']}, x{res['scale_factor']:g}) in {res['seconds']:.1f} s",
          flush=True)
    with rasterio.open(out) as f:
        pred = f.read(1)
    labelled = (gt != 255) & (pred != 255)
    agree = float((pred[labelled] == gt[labelled]).mean())
    entry = dict(checkpoint=ckpt, seed=seed, model=model.which, test_miou=miou, map=out,
                 agreement_all_labelled_px=agree, window=res['window'],
                 overlap=res['overlap'], scale_factor=res['scale_factor'],
                 seconds=res['seconds'])
    return entry, pred, model.dataset_meta


def plot_scene_maps(rgb: np.ndarray, gt: np.ndarray, maps: List[tuple], meta: dict,
                    png: str) -> None:
    """RGB | ground truth | one map per method (``(method, entry, map)``),
    legend."""
    plt = pyplot()
    palette = np.array(meta['palette'], np.uint8)
    classes = meta['classes']
    panels = [(rgb, 'image (RGB: bands 30/20/10)'),
              (colourise(gt, palette), 'ground truth (strata.tif)')]
    for method, e, pred in maps:
        panels.append((colourise(pred, palette),
                       f"{method} (seed {e['seed']}, test mIoU {100 * e['test_miou']:.1f})\n"
                       f"agrees with the map on {100 * e['agreement_all_labelled_px']:.0f}% "
                       'of labelled px'))
    cols = len(panels)
    fig, axes = plt.subplots(1, cols, figsize=(3.2 * cols, 3.6), squeeze=False)
    for ax, (im, title) in zip(axes[0], panels):
        ax.imshow(im, interpolation='nearest')
        ax.set_title(title, fontsize=7)
        ax.axis('off')
    handles = [plt.Rectangle((0, 0), 1, 1, color=palette[i] / 255) for i in range(len(classes))]
    handles.append(plt.Rectangle((0, 0), 1, 1, facecolor='white', edgecolor='0.5'))
    fig.legend(handles, list(classes) + ['nodata / not labelled'], loc='lower center',
               ncol=len(handles), fontsize=7)
    fig.suptitle('Whole NC Landsat scene (training, val and test areas alike; agreement '
                 'includes the training tiles)', fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    fig.savefig(png, dpi=110)
    plt.close(fig)


def save_scene_maps(work_dir: str, converter, root: str, out_dir: Optional[str] = None,
                    data_root: str = DEFAULT_DATA_ROOT, records: Optional[List[dict]] = None,
                    src: Optional[str] = None, window=None, overlap=None) -> str:
    """Map the whole scene with each method's median-seed best checkpoint and
    write ``scene_input_ms6.tif``, ``scene_<method>.tif``, ``scene_maps.json``
    and ``scene_maps.png`` (RGB | ground truth | one map per method, legend)
    into ``out_dir`` (default ``work_dir``). ``records``: results.json's
    (default: read from ``work_dir``). ``data_root``: the converted data the
    models were tested on (the test pipeline's resize factor is read there),
    relative to ``root`` unless absolute. Returns the path of the png."""
    out_dir = out_dir or work_dir
    records = trained_records(work_dir, records)
    data_root = data_root if osp.isabs(data_root) else osp.join(root, data_root)
    if not osp.isdir(data_root):
        # the test pipeline's resize factor is measured on a converted test tile
        raise FileNotFoundError(f"converted data '{data_root}' does not exist. Fix: "
                                '--data-root DIR (the data the runs were tested on), or '
                                'python tools/dataset_converters/nc_landsat.py.')
    scene_tif = osp.join(out_dir, 'scene_input_ms6.tif')
    img, gt = write_scene_input(scene_tif, converter, src)
    maps, summary, meta = [], {}, None
    for r in records:
        entry, pred, meta = map_scene(r, work_dir, out_dir, scene_tif, gt, data_root, root,
                                      window, overlap)
        maps.append((r['method'], entry, pred))
        summary[r['method']] = entry
    with open(osp.join(out_dir, 'scene_maps.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    png = osp.join(out_dir, 'scene_maps.png')
    plot_scene_maps(img[..., list(converter.RGB)], gt, maps, meta, png)
    return png
