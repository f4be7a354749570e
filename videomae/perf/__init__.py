"""How close a run is to the hardware: model FLOPs per clip, device peaks, and model FLOPs
utilisation (MFU). No Lightning, Hydra or OmegaConf here: the GPU check imports it bare."""
