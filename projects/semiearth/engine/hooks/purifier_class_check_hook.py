"""Check, before training, that the purifier's VLM classes are the dataset's."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS

from ...vlm import check_class_names


@HOOKS.register_module()
class PurifierClassCheckHook(Hook):
    """Fail at the start of training when ``model.purifier``'s VLM class
    names differ from the training dataset's ``classes`` (names or order).

    VLM channel ``i`` is compared with segmentor class ``i``; a list written
    for another dataset would silently purify with the wrong classes.
    A no-op for models without a purifier.
    """

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        purifier = getattr(model, 'purifier', None)
        if purifier is None:
            return
        classes = runner.train_dataloader.dataset.metainfo.get('classes')
        check_class_names(purifier.class_keys, classes,
                          where='model.purifier.vlm.class_names')
