"""What makes an export a Hugging Face model repository beyond its weights: the processor configs
(`preprocessor`), the model card (`card`, `card_sections`), and the training record they are written
from (`record`). Nothing on a card is typed by hand: a field the record does not have says so.
"""

from videomae.checkpoints.card import CITATION, PAPER, model_card
from videomae.checkpoints.card_sections import DATASETS
from videomae.checkpoints.preprocessor import preprocessor_configs
from videomae.checkpoints.record import EVAL_METRICS, pretraining_record, training_record

__all__ = [
    "CITATION",
    "DATASETS",
    "EVAL_METRICS",
    "PAPER",
    "model_card",
    "preprocessor_configs",
    "pretraining_record",
    "training_record",
]
