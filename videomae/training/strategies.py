"""Lightning's FSDP, made to run on CPU processes too (gloo), as the test suite does."""

from pytorch_lightning.strategies import FSDPStrategy
from torch import nn
from torch.distributed.fsdp import (
    FullOptimStateDictConfig,
    FullStateDictConfig,
    FullyShardedDataParallel,
    OptimStateKeyType,
    StateDictType,
)


class BlockFSDPStrategy(FSDPStrategy):
    """Lightning's FSDPStrategy, unchanged on GPUs, that also runs on CPU processes (gloo).

    On CPU Lightning gives torch `device_id=root_device.index`, which is None, and torch's FSDP then
    asks for an accelerator; wrapped here with `device_id=cpu`, the model shards and trains. (Lightning
    refuses FSDP without a GPU by an exact-type check, which a subclass passes.)
    """

    def _setup_model(self, model: nn.Module) -> nn.Module:
        if self.root_device.type != "cpu":
            return super()._setup_model(model)
        if not any(isinstance(m, FullyShardedDataParallel) for m in model.modules()):
            model = FullyShardedDataParallel(
                module=model,
                cpu_offload=self.cpu_offload,
                mixed_precision=self.mixed_precision_config,
                sharding_strategy=self.sharding_strategy,
                device_id=self.root_device,
                **self.kwargs,
            )
        # Lightning keeps a wrapped model as it is, but would warn that the policy goes unused and
        # forget it, which a later fit or test with this strategy needs.
        policy = self.kwargs.pop("auto_wrap_policy", None)
        try:
            return super()._setup_model(model)
        finally:
            if policy is not None:
                self.kwargs["auto_wrap_policy"] = policy

    def optimizer_state(self, optimizer) -> dict:
        if self.root_device.type != "cpu" or self._state_dict_type != "full":
            return super().optimizer_state(optimizer)
        # Lightning asks for offload_to_cpu. torch gathers each of a parameter's states (exp_avg,
        # exp_avg_sq) into one buffer and offloads it with .cpu(), which on a CPU is the buffer itself:
        # every state would come out as the last one gathered. Not offloading, torch copies.
        optimizer = getattr(optimizer, "_optimizer", optimizer)  # a LightningOptimizer's own
        with FullyShardedDataParallel.state_dict_type(
            self.model,
            StateDictType.FULL_STATE_DICT,
            FullStateDictConfig(rank0_only=True),
            FullOptimStateDictConfig(offload_to_cpu=False, rank0_only=True),
        ):
            state = FullyShardedDataParallel.optim_state_dict(self.model, optimizer)
            if self.global_rank == 0:  # keyed by parameter index, as Lightning saves it
                state = FullyShardedDataParallel.rekey_optim_state_dict(
                    state, OptimStateKeyType.PARAM_ID, self.model
                )
        return state
