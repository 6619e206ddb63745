"""The whole build, readable top to bottom: chat logs in, a mixed, split, exported dataset out.

Two passes over the data keep memory flat in the input size. Pass 1 streams messages through
filter, clean, merge, PII masking, sessions and samples, exact and near-duplicate removal, and
spools the samples to disk; only the dedup indexes and the replies (for semantic clustering) stay
in memory. Semantic clustering then decides which replies to drop. Pass 2 streams the spool
through weighting, the model steps, augmentation and the split into the exporters; knowledge and
structured samples follow in the shares the mix asks for.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from finassist.config import Settings
from finassist.data import clean, dedup, llm, mix, semantic, sessions, sources
from finassist.data.augment import augment, load_synonyms
from finassist.data.config import BuildConfig, resolve_path
from finassist.data.export import DatasetWriter, check_formats
from finassist.data.readers import ReadReport, read_messages
from finassist.data.records import Sample, StageStats
from finassist.data.report import length_bin, render_html
from finassist.errors import ConfigError
from finassist.llm.types import ChatBackend
from finassist.nlp.pii import KIND_TITLES, PiiMasker

ProgressFn = Callable[[str, int, int], None]
T = TypeVar("T")


@dataclass
class BuildResult:
    """Where the dataset went, the report (as written to report.json) and the files."""

    out: Path
    report: dict[str, Any]
    files: list[Path]


def _timed(items: Iterable[T], stats: StageStats) -> Iterator[T]:
    """Attribute the time spent producing each item to ``stats`` (stages are lazy)."""
    iterator = iter(items)
    while True:
        start = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            stats.seconds += time.perf_counter() - start
            return
        stats.seconds += time.perf_counter() - start
        yield item


def _own_times(stages: _Stages, chain: tuple[str, ...]) -> None:
    """Lazy stages pull from the one before, so each measured time includes its upstream's:
    subtract it to leave each stage its own time."""
    previous = 0.0
    for name in chain:
        cumulative = stages[name].seconds
        if cumulative > 0:
            stages[name].seconds = max(0.0, cumulative - previous)
            previous = cumulative


class _Stages:
    """The stage statistics, in the order the report lists them."""

    def __init__(self) -> None:
        names = [
            ("read", "读取"),
            ("filter", "过滤"),
            ("clean", "清洗"),
            ("merge", "合并连续消息"),
            ("pii", "个人信息脱敏"),
            ("session", "会话切分"),
            ("samples", "构建样本"),
            ("exact", "完全去重"),
            ("near", "近似去重"),
            ("semantic", "语义去重"),
            ("weighting", "轮次降权"),
            ("llm", "模型评分与标注"),
            ("augment", "数据增强"),
            ("mix", "混合"),
            ("export", "划分与导出"),
        ]
        self.by_name = {name: StageStats(name, title) for name, title in names}

    def __getitem__(self, name: str) -> StageStats:
        return self.by_name[name]

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.by_name.values()]


def build_dataset(
    config: BuildConfig,
    inputs: list[Path],
    out: Path,
    *,
    db: Any = None,
    as_of: date | None = None,
    backend: ChatBackend | None = None,
    settings: Settings | None = None,
    base_dir: Path | None = None,
    progress: ProgressFn | None = None,
) -> BuildResult:
    """Run every stage and publish the dataset and its report into ``out``.

    ``db`` (a :class:`finassist.store.Database`) supplies the structured samples; ``backend`` the
    optional model steps (when None and ``config.llm.backend`` names a model, that model of
    ``settings``).
    ``base_dir`` resolves relative paths in the config. Nothing is written to ``out`` unless the
    whole build succeeds.
    """
    started = time.perf_counter()
    check_formats(config.formats)
    report_progress: ProgressFn = progress or (lambda *_: None)
    stages = _Stages()
    notes: list[str] = []
    if backend is None and config.llm.backend:
        if settings is None:
            raise ConfigError(
                f"数据配置 llm.backend 指定了模型 {config.llm.backend}，但没有传入设置，无法找到该模型。"
            )
        backend = llm.model_backend(config.llm.backend, settings, config.llm.options)
    block_file = config.filter.block_words_file
    block_words = clean.load_block_words(resolve_path(block_file, base_dir) if block_file else None)
    synonyms_file = config.augment.synonyms_file
    synonyms = load_synonyms(resolve_path(synonyms_file, base_dir) if synonyms_file else None)
    knowledge_paths = [resolve_path(p, base_dir) for p in config.sources.knowledge]

    writer = DatasetWriter(out, config.formats)
    spool_dir = Path(tempfile.mkdtemp(prefix=".spool-", dir=out))
    read_report = ReadReport()
    try:
        # -- pass 1: stream messages to samples; spool what survives exact and near dedup ------
        masker = PiiMasker(config.pii.kinds or None)
        samples = _pass_one(
            config, inputs, stages, read_report, masker, block_words, report_progress
        )
        spool = spool_dir / "samples.jsonl"
        replies: list[str] = []
        ids: list[str] = []
        with spool.open("w", encoding="utf-8") as fh:
            for sample in samples:
                fh.write(json.dumps(sample.to_json(), ensure_ascii=False) + "\n")
                replies.append(sample.reply)
                ids.append(sample.id)
        if not config.pii.enabled:
            notes.append("个人信息脱敏已关闭（pii.enabled: false），导出数据可能含有个人信息。")

        # -- semantic dedup over all replies ---------------------------------------------------
        drop, cluster_info = semantic.dedup_replies(
            config.dedup.semantic, config.seed, replies, ids, stages["semantic"], report_progress
        )
        del replies

        # -- pass 2: weighting, model steps, augmentation, split, export -----------------------
        totals = Counter[str]()
        lengths: dict[str, Counter[int]] = {"reply": Counter(), "context": Counter()}

        def publish(items: Iterable[Sample]) -> None:
            st = stages["export"]
            for sample in items:
                st.count_in += 1
                split = mix.assign_split(sample.group, config.seed, config.split)
                writer.write(sample, split)
                totals[sample.kind] += 1
                lengths["reply"][length_bin(len(sample.reply))] += 1
                lengths["context"][
                    length_bin(sum(len(m["content"]) for m in sample.messages[:-1]))
                ] += 1
                st.count_out += 1

        chat = _pass_two(config, spool, drop, stages, backend, synonyms, notes, report_progress)
        publish(_timed(chat, stages["export"]))
        chat_count = totals["chat"]

        # -- mixing: knowledge and structured samples in the configured shares -----------------
        want_k, want_s = config.mix.targets(chat_count)
        mix_stats = stages["mix"]
        knowledge = _knowledge(config, knowledge_paths, want_k, masker, backend, read_report, notes)
        publish(_timed(knowledge, mix_stats))
        failures: dict[str, int] = {}
        if want_s and db is not None and config.sources.database:
            structured = sources.structured_samples(
                db, as_of, want_s, config.samples.system_prompt, failures
            )
            publish(_timed(structured, mix_stats))
        elif want_s:
            notes.append("未提供数据库，未生成结构化样本（推荐结果 JSON）。")
        for reason, n in failures.items():
            mix_stats.drop(f"推荐工具失败：{reason}", n)
        mix_stats.count_in = chat_count + want_k + want_s
        mix_stats.count_out = sum(totals.values())
        for kind, want in (("knowledge", want_k), ("structured", want_s)):
            if totals[kind] < want:
                mix_stats.drop(f"{kind} 样本不足（目标 {want}）", want - totals[kind])

        _own_times(
            stages,
            ("read", "filter", "clean", "merge", "pii", "session", "samples", "exact", "near"),
        )
        _own_times(stages, ("weighting", "llm", "augment", "export"))
        report = _report(
            config,
            stages,
            read_report,
            cluster_info,
            lengths,
            totals,
            writer,
            notes,
            want_k,
            want_s,
            started,
        )
        writer.add_file("report.json", json.dumps(report, ensure_ascii=False, indent=2))
        writer.add_file("report.html", render_html(report))
        writer.add_file(
            "clusters.jsonl",
            "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cluster_info["listed"]),
        )
        files = writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        shutil.rmtree(spool_dir, ignore_errors=True)
    return BuildResult(out, report, files)


def _pass_one(
    config: BuildConfig,
    inputs: list[Path],
    stages: _Stages,
    read_report: ReadReport,
    masker: PiiMasker,
    block_words: tuple[str, ...],
    progress: ProgressFn,
) -> Iterator[Sample]:
    """Messages to deduplicated samples, lazily."""
    read_stats = stages["read"]

    def read_progress(done: int, total: int) -> None:
        progress("读取聊天记录", done, total)

    def counted(messages: Iterable[Any]) -> Iterator[Any]:
        for message in messages:
            read_stats.count_out += 1
            yield message

    messages: Iterable[Any] = _timed(
        counted(read_messages(inputs, read_report, read_progress)), read_stats
    )
    fopts = clean.FilterOptions(
        config.filter.allowed_types, config.filter.drop_forwarded, block_words
    )
    messages = _timed(clean.filter_messages(messages, fopts, stages["filter"]), stages["filter"])
    messages = _timed(
        clean.clean_messages(messages, config.clean, stages["clean"]), stages["clean"]
    )
    sc = config.session
    messages = _timed(
        sessions.merge_consecutive(messages, sc.merge_gap_seconds, stages["merge"], sc.max_open),
        stages["merge"],
    )
    if config.pii.enabled:
        messages = _timed(sessions.mask_messages(messages, masker, stages["pii"]), stages["pii"])
    grouped = _timed(
        sessions.sessionise(messages, sc.mode, sc.gap_seconds, stages["session"], sc.max_open),
        stages["session"],
    )
    samples: Iterable[Sample] = _timed(
        sessions.build_samples(grouped, config.samples, stages["samples"]), stages["samples"]
    )
    if config.dedup.exact:
        samples = _timed(dedup.exact_dedup(samples, stages["exact"]), stages["exact"])
    if config.dedup.near:
        samples = _timed(
            dedup.near_dedup(samples, config.dedup.near_options, stages["near"]), stages["near"]
        )
    yield from samples
    read_stats.count_in = read_report.rows
    if read_report.bad_count:
        read_stats.drop("坏行", read_report.bad_count)


def _pass_two(
    config: BuildConfig,
    spool: Path,
    drop: np.ndarray,
    stages: _Stages,
    backend: ChatBackend | None,
    synonyms: tuple[tuple[str, ...], ...],
    notes: list[str],
    progress: ProgressFn,
) -> Iterator[Sample]:
    total = len(drop)

    def kept() -> Iterator[Sample]:
        with spool.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if n % 5000 == 0:
                    progress("写出样本", n, total)
                if not drop[n]:
                    yield Sample.from_json(json.loads(line))
        progress("写出样本", total, total)

    samples: Iterable[Sample] = _timed(
        mix.weight_by_position(kept(), config.weighting, config.seed, stages["weighting"]),
        stages["weighting"],
    )
    lc = config.llm
    if backend is not None and (lc.quality or lc.label_tasks):
        labels = (lc.labels or llm.DEFAULT_LABELS) if lc.label_tasks else None
        min_quality = lc.min_quality if lc.quality else 0
        samples = _timed(
            llm.llm_steps(
                samples, backend, min_quality=min_quality, labels=labels, stats=stages["llm"]
            ),
            stages["llm"],
        )
    else:
        stages["llm"].notes.append("未配置模型（llm.backend），已跳过质量评分与任务标注")
        notes.append("未配置模型：质量评分、任务标注、模型改写已跳过；知识样本的问题用模板生成。")
    ac = config.augment
    if ac.paraphrase_ratio > 0 and backend is None:
        stages["augment"].notes.append("未配置模型，跳过模型改写")
    if ac.synonym_ratio > 0 or (ac.paraphrase_ratio > 0 and backend is not None):
        samples = _timed(
            augment(
                samples,
                groups=synonyms,
                synonym_ratio=ac.synonym_ratio,
                backend=backend,
                paraphrase_ratio=ac.paraphrase_ratio,
                seed=config.seed,
                stats=stages["augment"],
            ),
            stages["augment"],
        )
    else:
        stages["augment"].notes.append("未开启数据增强")
    yield from samples


def _knowledge(
    config: BuildConfig,
    paths: list[Path],
    want: int,
    masker: PiiMasker,
    backend: ChatBackend | None,
    read_report: ReadReport,
    notes: list[str],
) -> Iterator[Sample]:
    if want <= 0:
        return
    if not paths:
        notes.append("未提供知识文档（sources.knowledge / --knowledge），未生成知识样本。")
        return
    chars = config.sources.passage_chars
    available = sum(1 for _ in sources.read_passages(paths, ReadReport(), chars))
    chosen = mix.take_evenly(
        enumerate(sources.read_passages(paths, read_report, chars)),
        want,
        available,
        config.seed,
        key=lambda p: str(p[0]),
    )
    question_backend = backend if config.llm.knowledge_questions else None
    for sample in sources.knowledge_samples(
        (p for _, p in chosen), question_backend, config.samples.system_prompt
    ):
        if config.pii.enabled:
            sample.messages = [
                {**m, "content": masker.mask(m["content"]).text} for m in sample.messages
            ]
        yield sample


def _report(
    config: BuildConfig,
    stages: _Stages,
    read_report: ReadReport,
    cluster_info: dict[str, Any],
    lengths: dict[str, Counter[int]],
    totals: Counter[str],
    writer: DatasetWriter,
    notes: list[str],
    want_k: int,
    want_s: int,
    started: float,
) -> dict[str, Any]:
    total = sum(totals.values())
    ratios = {
        "chat": config.mix.chat,
        "knowledge": config.mix.knowledge,
        "structured": config.mix.structured,
    }
    norm = sum(ratios.values())
    pii = {
        title: stages["pii"].dropped.get(title, 0)
        for title in KIND_TITLES.values()
        if stages["pii"].dropped.get(title)
    }
    return {
        "total": total,
        "seconds": round(time.perf_counter() - started, 2),
        "seed": config.seed,
        "input": read_report.to_json(),
        "stages": stages.to_json(),
        "pii": pii,
        "clusters": {k: v for k, v in cluster_info.items() if k != "listed"},
        "lengths": {k: {str(b): n for b, n in sorted(c.items())} for k, c in lengths.items()},
        "mix": {
            "target": {k: round(v / norm, 4) for k, v in ratios.items()},
            "wanted": {"chat": totals["chat"], "knowledge": want_k, "structured": want_s},
            "actual": {k: totals[k] for k in ("chat", "knowledge", "structured")},
            "actual_share": {
                k: round(totals[k] / total, 4) if total else 0.0
                for k in ("chat", "knowledge", "structured")
            },
        },
        "splits": writer.counts,
        "formats": list(config.formats),
        "notes": notes,
    }
