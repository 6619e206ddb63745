"""A linear classifier over sparse string features, stored as a small ``.npz`` file.

Training scripts fit the weights (scikit-learn is allowed there); inference needs only numpy.
Probabilities are a softmax of the scores divided by a fitted temperature, so that a reported
0.8 is right about 80% of the time on held-out data.

>>> model = LinearModel.load(path)                          # doctest: +SKIP
>>> model.predict_proba({"^茅": 0.5, "台": 0.5})           # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from finassist.errors import FinassistError


class ModelError(FinassistError):
    """A model file is missing or unreadable."""


@dataclass
class LinearModel:
    """Weights ``coef`` (classes x features), ``intercept``, the feature vocabulary and a
    softmax temperature; ``meta`` holds what the training script recorded (threshold, data)."""

    classes: list[str]
    vocabulary: dict[str, int]
    coef: np.ndarray
    intercept: np.ndarray
    temperature: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)

    def scores(self, features: dict[str, float]) -> np.ndarray:
        """Raw class scores for one feature dict (unknown features are ignored)."""
        cols: list[int] = []
        vals: list[float] = []
        for key, value in features.items():
            index = self.vocabulary.get(key)
            if index is not None:
                cols.append(index)
                vals.append(value)
        out = self.intercept.astype(np.float64)
        if cols:
            out = out + self.coef[:, cols].astype(np.float64) @ np.asarray(vals)
        return out

    def predict_proba(self, features: dict[str, float]) -> np.ndarray:
        """Calibrated class probabilities, in the order of ``classes``."""
        z = self.scores(features) / self.temperature
        z -= z.max()
        p = np.exp(z)
        return p / p.sum()

    def save(self, path: Path) -> None:
        """Write atomically (temp file + rename): a reader never sees half a model."""
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self.vocabulary, key=self.vocabulary.__getitem__)
        header = {"classes": self.classes, "temperature": self.temperature, "meta": self.meta}
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        os.close(fd)
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh,
                header=np.array(json.dumps(header, ensure_ascii=False)),
                features=np.array(keys, dtype=np.str_),
                coef=self.coef.astype(np.float32),
                intercept=self.intercept.astype(np.float32),
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a packaged model must be readable
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path | Any) -> LinearModel:
        """Read a model written by :meth:`save` (a path or an importlib resource)."""
        try:
            with path.open("rb") as fh, np.load(fh, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                features = [str(f) for f in data["features"]]
                coef = np.asarray(data["coef"], dtype=np.float32)
                intercept = np.asarray(data["intercept"], dtype=np.float32)
        except FileNotFoundError as exc:
            raise ModelError(
                f"找不到模型文件 {path}。请先运行对应的训练脚本（python -m finassist.nlp.train_intent "
                "或 train_sentiment）生成模型。"
            ) from exc
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ModelError(
                f"模型文件 {path} 已损坏或格式不对（{exc}），请重新训练生成。"
            ) from exc
        if coef.shape != (len(header["classes"]), len(features)):
            raise ModelError(f"模型文件 {path} 的权重维度不一致，请重新训练生成。")
        return cls(
            classes=list(header["classes"]),
            vocabulary={f: i for i, f in enumerate(features)},
            coef=coef,
            intercept=intercept,
            temperature=float(header.get("temperature", 1.0)),
            meta=dict(header.get("meta", {})),
        )
