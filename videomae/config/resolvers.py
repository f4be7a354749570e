"""OmegaConf resolvers the configs use; registered when the package is imported.

`${model_size:vit_base,embed_dim}`: a size's value from videomae.models.MODEL_SIZES, so that the
sizes are written once (in Python, where `create_pretrain_model("vit_base")` needs them) and the
config groups under configs/model/ show them without a copy.
"""

from omegaconf import OmegaConf

from videomae.models.factory import MODEL_SIZES


def model_size(name: str, key: str):
    if name not in MODEL_SIZES:
        raise ValueError(f"model.name={name!r} is not one of {', '.join(MODEL_SIZES)}")
    return MODEL_SIZES[name][key]


OmegaConf.register_new_resolver("model_size", model_size, replace=True)
