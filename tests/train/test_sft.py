"""LoRA training on a tiny Qwen2 on CPU: the loss drops on a memorisable set, the run becomes a
version the model layer loads by name, packing trains exactly the assistant tokens without
cross-talk, a resumed run equals an uninterrupted one, and user mistakes stop before any work."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("trl")
pytest.importorskip("datasets")

from safetensors.torch import load_file  # noqa: E402
from tests.cli_helpers import run_cli  # noqa: E402
from tests.train.conftest import QA, cli_env, write_jsonl  # noqa: E402

from finassist.config import Settings  # noqa: E402
from finassist.errors import ConfigError, InvalidInput, NotFound  # noqa: E402
from finassist.llm.registry import get_backend  # noqa: E402
from finassist.llm.types import Message  # noqa: E402
from finassist.llm.versions import ModelVersion, find_version, save_version  # noqa: E402
from finassist.train import runner  # noqa: E402
from finassist.train.config import TrainConfig  # noqa: E402
from finassist.train.runner import build_trainer, prepare, run_training  # noqa: E402


class Crash(Exception):
    """Stands for a crash or Ctrl-C in the middle of a run."""


def _no_network(*_a: Any, **_k: Any) -> None:
    raise AssertionError("no network access")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, sft_export: Path):
    """One real run: 80 steps with packing, evaluation every 40 steps."""
    home = tmp_path_factory.mktemp("home")
    config = TrainConfig(
        name="fin-tiny",
        model_path=str(tiny_model),
        data=[str(sft_export)],
        max_length=128,
        packing=True,
        lora={"r": 64, "alpha": 128, "dropout": 0.0},
        learning_rate=3e-3,
        warmup_ratio=0.05,
        max_steps=80,
        batch_size=4,
        grad_accum=1,
        logging_steps=5,
        eval_steps=40,
        save_steps=40,
        gradient_checkpointing=False,
        seed=int(os.environ.get("TINY_SEED", "42")),
    )
    events: list[tuple[str, dict[str, Any]]] = []
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:  # a whole run without touching the network
        patch.setattr(socket.socket, "connect", _no_network)
        version = run_training(config, home, events=lambda kind, info: events.append((kind, info)))
    return home, version, events


def test_training_lowers_the_loss_and_registers_the_version(trained, sft_export: Path) -> None:
    home, version, events = trained
    m = version.metrics
    assert m["steps"] == 80
    assert m["train_loss"] < 0.5 * m["train_loss_first"]
    assert m["eval_loss"] is not None and m["eval_loss"] < m["train_loss_first"]
    assert (m["train_records"], m["truncated"], m["dropped"]) == (len(QA), 0, 0)

    assert find_version(home, "fin-tiny") == version
    train_file = sft_export / "openai" / "train.jsonl"
    assert version.data == [str(train_file.resolve())]
    assert version.data_hash == hashlib.sha256(train_file.read_bytes()).hexdigest()
    assert version.config["eval_data"] == [str((sft_export / "openai" / "val.jsonl").resolve())]
    adapter = Path(version.adapter or "")
    assert adapter == home.resolve() / "models" / "fin-tiny" / "adapter"
    assert (adapter / "adapter_config.json").is_file()
    assert (adapter / "tokenizer_config.json").is_file()  # the tokenizer is saved beside it
    assert (adapter.parent / "metrics.json").is_file()
    assert not list(adapter.parent.glob(".*staging*"))

    kinds = [k for k, _ in events]
    assert kinds[0] == "data" and "start" in kinds
    assert events[0][1]["train"].rows == len(QA)
    assert any(k == "log" and "eval_loss" in info for k, info in events)


def test_the_version_loads_by_name_and_answers_from_memory(trained) -> None:
    home, version, _ = trained
    backend = get_backend(version.name, Settings(home=home))
    memorised = 0
    for question, answer in QA[1::2]:  # conversations trained without a system prompt
        reply = backend.chat([Message.user(question)])
        assert isinstance(reply.content, str)
        memorised += reply.content.strip() == answer
    assert memorised >= 3  # of 4; all 4 on the machines we tried


def test_evaluation_shows_the_fine_tuned_version_beats_its_base(
    trained, tiny_model: Path, tmp_path: Path
) -> None:
    """The issue's loop: evaluate base and tuned on the same task, compare, see it in models show."""
    from finassist.evaluate import Subject, compare, load_task_file, run_tasks, save_run

    home, version, _ = trained
    task_path = write_jsonl(
        tmp_path / "memorised.jsonl",
        [{"task": "generation", "name": "memorised"}]
        + [{"question": q, "reference": a} for q, a in QA[1::2]],
    )
    task = load_task_file(task_path)
    settings = Settings(
        home=home,
        models={"tiny-base": {"backend": "hf", "path": str(tiny_model), "max_tokens": 16}},
    )
    runs = {}
    for name in ("tiny-base", version.name):
        subject = Subject(name=name, backend=get_backend(name, settings))
        runs[name] = save_run(home, name, run_tasks([task], subject))
    base, tuned = (runs[n].results[0].metrics["rouge_l"] for n in ("tiny-base", version.name))
    assert tuned >= 0.75 > base  # 3 of 4 answers memorised at least; random weights get ~0
    rows = {(r.task, r.metric): r for r in compare(runs["tiny-base"], runs[version.name])}
    assert rows["memorised", "rouge_l"].delta == pytest.approx(tuned - base)

    shown = run_cli(home, "models", "show", version.name, "--json", **cli_env())
    assert shown.returncode == 0, shown.stderr
    evaluations = json.loads(shown.stdout)["evaluations"]
    assert [e["run_id"] for e in evaluations] == [runs[version.name].run_id]
    assert evaluations[0]["tasks"]["memorised"]["metrics"]["rouge_l"] == pytest.approx(tuned)


def test_merge_command_folds_the_trained_adapter_in(trained) -> None:
    from typer.testing import CliRunner

    from finassist.cli.train import train_app

    home, version, _ = trained
    result = CliRunner().invoke(
        train_app, ["merge", version.name, "--dtype", "float32"], env={"FINASSIST_HOME": str(home)}
    )
    assert result.exit_code == 0, result.output
    assert "已合并" in result.output and "fin-tiny-merged" in result.output
    merged = find_version(home, "fin-tiny-merged")
    assert merged is not None and merged.parent == "fin-tiny"


@pytest.mark.parametrize("packing", [True, False])
def test_batches_train_exactly_the_assistant_tokens(fast, tmp_path: Path, packing: bool) -> None:
    config = TrainConfig(name="pack", packing=packing, max_steps=1, eval_data=[], **fast)
    prepared = prepare(config, tmp_path)
    batches = list(prepared.trainer.get_train_dataloader())
    labelled = sum(int((b["labels"] != -100).sum()) for b in batches)
    assert labelled == prepared.train.trained_tokens
    if packing:  # several conversations share a row; positions restart at each one
        assert any(int((b["position_ids"] == 0).sum()) > 1 for b in batches)


def test_packed_samples_do_not_see_each_other(fast, tmp_path: Path) -> None:
    config = TrainConfig(name="pack", packing=True, max_steps=1, eval_data=[], **fast)
    trainer = build_trainer(config, output_dir=tmp_path)
    batch = next(
        b for b in trainer.get_train_dataloader() if int((b["position_ids"] == 0).sum()) > 1
    )
    model = trainer.model.eval()
    ids, positions = batch["input_ids"], batch["position_ids"]
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=positions).logits[0]
        starts = [*(positions[0] == 0).nonzero().flatten().tolist(), ids.shape[1]]
        for a, b in itertools.pairwise(starts):
            alone = model(input_ids=ids[:, a:b]).logits[0]
            torch.testing.assert_close(packed[a:b], alone, atol=1e-4, rtol=1e-4)


def test_resume_continues_a_crashed_run_to_the_same_result(fast, tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = {**fast, "max_steps": 4, "save_steps": 2, "eval_data": [], "packing": True}
    # LoRA dropout: the random number state must resume too.
    settings["lora"] = {"r": 8, "alpha": 16, "dropout": 0.1}
    straight = run_training(TrainConfig(name="run-a", **settings), home)

    def crash_at_step_3(kind: str, info: dict[str, Any]) -> None:
        if kind == "step" and info["step"] == 3:
            raise Crash

    crashed = TrainConfig(name="run-b", **settings)
    with pytest.raises(Crash):
        run_training(crashed, home, events=crash_at_step_3)
    run_dir = home / "models" / "run-b"
    assert find_version(home, "run-b") is None  # a crashed run is never registered
    assert not (run_dir / "adapter").exists()
    assert (run_dir / "checkpoints" / "checkpoint-2").is_dir()
    with pytest.raises(InvalidInput, match="--resume"):
        run_training(crashed, home)

    resumed = run_training(crashed, home, resume=True)
    assert resumed.metrics["steps"] == 4
    assert resumed.metrics["train_loss"] == pytest.approx(straight.metrics["train_loss"], rel=1e-5)
    a = load_file(Path(straight.adapter or "") / "adapter_model.safetensors")
    b = load_file(Path(resumed.adapter or "") / "adapter_model.safetensors")
    assert a.keys() == b.keys() and a
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=1e-5)


def test_continued_pretraining_on_documents(fast, tmp_path: Path) -> None:
    docs = tmp_path / "kb"
    write_jsonl(docs / "docs.jsonl", [{"title": q, "text": a * 3} for q, a in QA])
    (docs / "guide.md").write_text("# 反向保理\n\n" + QA[2][1] * 4, encoding="utf-8")
    settings = {**fast, "data": [str(docs)], "max_length": 32, "packing": True, "max_steps": 12}
    settings["gradient_checkpointing"] = True
    version = run_training(TrainConfig(name="fin-pt", stage="pt", **settings), tmp_path / "home")
    assert version.kind == "pt"
    assert [Path(p).name for p in version.data] == ["docs.jsonl", "guide.md"]
    assert version.metrics["train_rows"] > 1 and version.metrics["eval_loss"] is None
    assert version.metrics["train_loss"] < version.metrics["train_loss_first"]
    assert version.metrics["trained_tokens"] == version.metrics["train_tokens"]


def test_qlora_without_cuda_is_refused_before_loading_anything(
    fast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")

    def no_loading(*_a: Any, **_k: Any) -> None:
        raise AssertionError("nothing may be loaded before the checks")

    monkeypatch.setattr(runner, "_load_tokenizer", no_loading)
    monkeypatch.setattr(runner, "_load_model", no_loading)
    config = TrainConfig(name="q", quantization="4bit", **fast)
    with pytest.raises(ConfigError, match=r"QLoRA.*CUDA"):
        run_training(config, tmp_path)


def test_a_missing_model_folder_is_named_without_any_network_attempt(
    fast, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    missing = tmp_path / "Qwen2.5-7B-Instruct"
    config = TrainConfig(name="m", **{**fast, "model_path": str(missing)})
    with pytest.raises(NotFound, match="从不联网下载") as err:
        run_training(config, tmp_path)
    assert str(missing) in str(err.value)


def test_an_existing_version_is_never_overwritten(fast, tmp_path: Path) -> None:
    save_version(tmp_path, ModelVersion(name="taken", kind="sft", base_model="/m", adapter="/a"))
    config = TrainConfig(name="taken", **fast)
    with pytest.raises(InvalidInput, match=r"已有名为 taken 的模型版本.*--resume"):
        run_training(config, tmp_path)
    with pytest.raises(NotFound, match="没有找到可继续的检查点"):
        run_training(config, tmp_path, resume=True)


def test_cli_trains_a_version_and_reports_in_chinese(fast, tmp_path: Path) -> None:
    import yaml

    home = tmp_path / "home"
    recipe = tmp_path / "sft.yaml"
    recipe.write_text(
        yaml.safe_dump({"name": "cli-tiny", **fast, "save_steps": 4}, allow_unicode=True),
        encoding="utf-8",
    )
    done = run_cli(home, "train", "sft", str(recipe), "--max-steps", "4", **cli_env())
    assert done.returncode == 0, done.stderr
    assert "训练数据：8 条" in done.stdout
    assert "训练完成：版本 cli-tiny" in done.stdout
    assert "Traceback" not in done.stderr
    assert find_version(home, "cli-tiny") is not None

    wrong = run_cli(home, "train", "pt", str(recipe), **cli_env())
    assert wrong.returncode == 1
    assert "stage 是 sft，请用 finassist train sft" in wrong.stderr
