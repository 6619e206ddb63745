"""Chat logs to fine-tuning data: the SFT dataset pipeline.

WeChat CSV / JSONL -> filter -> clean -> merge -> PII mask -> sessions -> samples -> exact,
near-duplicate and semantic dedup -> turn weighting -> optional model steps and augmentation ->
mix with knowledge and structured samples -> grouped split -> ShareGPT / Alpaca / OpenAI /
LLaMA-Factory. Every stage is a pure function over an iterator of records (see
:mod:`finassist.data.pipeline` for the whole run in order).
"""

from finassist.data.records import Message, Sample

__all__ = ["Message", "Sample"]
