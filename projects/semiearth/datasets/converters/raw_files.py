"""Find raw files in the folders or zip archives users download."""
import glob
import os.path as osp
import zipfile
from typing import List


def find_raw(src: str, pattern: str, extract_to: str) -> List[str]:
    """Paths of the files matching ``pattern`` (a glob of the
    file name) anywhere under ``src``; zip files under ``src`` (or ``src``
    itself, a zip) are extracted once into ``extract_to`` and searched too.
    """
    if not osp.exists(src):
        raise FileNotFoundError(f"raw data '{src}' does not exist. Fix: pass the "
                                'folder (or zip) of the download.')
    zips = [src] if src.endswith('.zip') else sorted(
        glob.glob(osp.join(src, '**', '*.zip'), recursive=True))
    roots = [] if src.endswith('.zip') else [src]
    for z in zips:
        dst = osp.join(extract_to, osp.splitext(osp.basename(z))[0])
        done = dst + '.extracted'
        if not osp.exists(done):
            with zipfile.ZipFile(z) as archive:
                archive.extractall(dst)
            open(done, 'w').close()
        roots.append(dst)
    return sorted(path for root in roots
                  for path in glob.glob(osp.join(root, '**', pattern), recursive=True))

