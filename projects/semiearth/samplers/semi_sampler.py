"""Infinite sampler with a fixed number of labeled and unlabeled samples in
every batch."""
import itertools
from typing import Iterator, Optional, Sized

import torch
from mmengine.dataset import ConcatDataset
from mmengine.dist import get_dist_info, sync_random_seed
from mmseg.registry import DATA_SAMPLERS
from torch.utils.data import Sampler

from ..utils.step_rng import sample_seed


class SampleKey(int):
    """A dataset index that carries the seed of its sample's pipeline
    (:class:`SemiDataset` runs the pipeline under it). It is an ``int``
    everywhere else."""

    def __new__(cls, index: int, seed: int) -> 'SampleKey':
        key = super().__new__(cls, index)
        key.seed = seed
        return key

    def __reduce__(self):  # to dataloader workers and back
        return SampleKey, (int(self), self.seed)


@DATA_SAMPLERS.register_module()
class SemiSampler(Sampler):
    """Yield batches of ``num_labeled`` labeled then ``batch_size -
    num_labeled`` unlabeled indices, forever.

    The dataset is a ``ConcatDataset([labeled, unlabeled])``. Each source is
    drawn from its own endless stream of seeded permutations (so the small
    labeled set repeats as often as needed, the UniMatch way), and under DDP
    rank ``r`` of ``w`` takes every ``w``-th index of each stream starting at
    ``r``: within a pass ranks see disjoint samples. The stream depends only on
    the seed, so a resumed run continues exactly where the interrupted run
    was: either by loading the finished batches (MMEngine's
    ``IterBasedTrainLoop``) or, without loading any, by
    :meth:`skip_batches` (:class:`SkipAheadIterBasedTrainLoop`). Each index
    is a :class:`SampleKey` whose seed is a function of the seed, the rank,
    the source and the position in the rank's stream: the sample's random
    augmentations are the same in the resumed run (see ``step_rng``). The
    dataloader's ``batch_size`` must equal ``batch_size`` here (configs share
    one variable).

    Args:
        dataset: ``ConcatDataset`` of a labeled and an unlabeled dataset.
        batch_size: per-GPU batch size.
        num_labeled: labeled samples per batch, ``0 < num_labeled < batch_size``.
        shuffle: draw random permutations (else sequential order).
        seed: base seed; None takes a seed synchronised across ranks.
    """

    def __init__(self, dataset: Sized, batch_size: int, num_labeled: int,
                 shuffle: bool = True, seed: Optional[int] = None) -> None:
        if not isinstance(dataset, ConcatDataset) or len(dataset.datasets) != 2:
            raise TypeError(
                'SemiSampler needs train_dataloader.dataset = dict(type='
                "'ConcatDataset', datasets=[labeled, unlabeled]); got "
                f'{type(dataset).__name__}.')
        sizes = [len(d) for d in dataset.datasets]
        for name, n in zip(('labeled', 'unlabeled'), sizes):
            if n == 0:
                raise ValueError(f'SemiSampler: the {name} dataset is empty; '
                                 'check its split file.')
        if not 0 < num_labeled < batch_size:
            raise ValueError(
                f'SemiSampler: num_labeled={num_labeled} does not fit '
                f'batch_size={batch_size}; need 0 < num_labeled < batch_size so '
                'that every batch holds labeled and unlabeled samples.')
        self.dataset = dataset
        self.batch_size = batch_size
        self.num_labeled = num_labeled
        self.num_unlabeled = batch_size - num_labeled
        self.sizes = sizes
        self.offset = sizes[0]
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.rank, self.world_size = get_dist_info()
        self.start_batch = 0

    def _stream(self, size: int, seed: int) -> Iterator[int]:
        g = torch.Generator().manual_seed(seed)
        while True:
            order = torch.randperm(size, generator=g) if self.shuffle else torch.arange(size)
            yield from order.tolist()

    def skip_batches(self, num_batches: int) -> None:
        """Start every later ``iter()`` at batch ``num_batches`` of the
        stream: the indices are those an iteration from the start yields
        after that many batches, drawn without loading a sample."""
        if num_batches < 0:
            raise ValueError(f'SemiSampler.skip_batches: num_batches={num_batches} < 0')
        self.start_batch = num_batches

    def _rank_stream(self, size: int, seed: int, per_batch: int, source: str,
                     offset: int = 0) -> Iterator[SampleKey]:
        """This rank's share of a source's stream, from ``start_batch`` on."""
        stream = itertools.islice(self._stream(size, seed), self.rank, None, self.world_size)
        start = self.start_batch * per_batch
        for position, index in enumerate(itertools.islice(stream, start, None), start):
            yield SampleKey(offset + index,
                            sample_seed(self.seed, self.rank, source, position))

    def __iter__(self) -> Iterator[SampleKey]:
        labeled = self._rank_stream(self.sizes[0], self.seed, self.num_labeled, 'labeled')
        unlabeled = self._rank_stream(self.sizes[1], self.seed + 1, self.num_unlabeled,
                                      'unlabeled', self.offset)
        while True:
            for _ in range(self.num_labeled):
                yield next(labeled)
            for _ in range(self.num_unlabeled):
                yield next(unlabeled)

    def __len__(self) -> int:
        return sum(self.sizes)

    def set_epoch(self, epoch: int) -> None:
        """Infinite sampler: nothing to do per epoch."""
