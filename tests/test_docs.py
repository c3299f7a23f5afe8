"""The docs, code and configs stand alone: no pointer to a file outside the
repository, and every relative link in the Markdown docs resolves to a file
and, where it names one, a section heading that exists."""
import os
import os.path as osp
import re

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCANNED = ('README.md', 'docs', 'projects', 'configs', 'tools', 'requirements', 'setup.py',
           '.ci')
# a document outside the repository, by the names it goes by
OUTSIDE = re.compile(r'\.\./shared|\bshared/[A-Z]+\.md|\bSPEC\b|\bSTACK\.md\b|\bDATA\.md\b')


def _files(exts=('.md', '.py', '.sh', '.txt', '.cfg', '.toml')):
    for entry in SCANNED:
        path = osp.join(ROOT, entry)
        if osp.isfile(path):
            yield path
            continue
        for dirpath, dirnames, files in os.walk(path):
            dirnames[:] = [d for d in dirnames if d not in ('__pycache__',)]
            for name in files:
                if name.endswith(exts) or name == 'run':
                    yield osp.join(dirpath, name)


def test_nothing_points_outside_the_repository():
    hits = []
    for path in _files():
        for n, line in enumerate(open(path, encoding='utf-8', errors='replace'), 1):
            if OUTSIDE.search(line):
                hits.append(f'{osp.relpath(path, ROOT)}:{n}: {line.strip()[:100]}')
    assert not hits, 'references to files outside the repository:\n' + '\n'.join(hits)


def _slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r'[`*_]|\[([^\]]*)\]\([^)]*\)', r'\1', heading.strip().lower())
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def _anchors(md_path: str) -> set:
    anchors, fenced = set(), False
    for line in open(md_path, encoding='utf-8'):
        if line.startswith('```'):
            fenced = not fenced
        elif not fenced and line.startswith('#'):
            anchors.add(_slug(line.lstrip('#')))
    return anchors


def test_relative_links_in_the_docs_resolve():
    docs = [osp.join(ROOT, 'README.md')] + [
        osp.join(ROOT, 'docs', n) for n in sorted(os.listdir(osp.join(ROOT, 'docs')))
        if n.endswith('.md')]
    docs += [p for p in _files(('.md',)) if '/projects/' in p]
    broken = []
    for doc in docs:
        text = open(doc, encoding='utf-8').read()
        text = re.sub(r'```.*?```', '', text, flags=re.S)
        for target in re.findall(r'\]\(([^)\s]+)\)', text):
            if re.match(r'[a-z]+://|mailto:', target):
                continue
            path, _, anchor = target.partition('#')
            file = osp.normpath(osp.join(osp.dirname(doc), path)) if path else doc
            where = f'{osp.relpath(doc, ROOT)}: ({target})'
            if not osp.exists(file):
                broken.append(f'{where}: no file {osp.relpath(file, ROOT)}')
            elif anchor and file.endswith('.md') and anchor not in _anchors(file):
                broken.append(f'{where}: no section #{anchor} in {osp.relpath(file, ROOT)}')
    assert not broken, 'broken links:\n' + '\n'.join(broken)
