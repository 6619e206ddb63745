"""Fine-tuning: LoRA/QLoRA SFT and continued pre-training from a YAML recipe, as model versions.

``finassist train sft|pt CONFIG.yaml`` loads a :class:`TrainConfig`, renders the data with the
model's chat template (loss on assistant tokens only), trains a LoRA adapter with TRL and
registers the run as a model version (``finassist.llm.versions``) that ``--model NAME`` loads.
torch, transformers, peft, trl and datasets (the ``train`` extra) are imported only when a run
starts; see docs/training.md.
"""

from finassist.train.config import TrainConfig, load_config

__all__ = ["TrainConfig", "load_config"]
