"""GGUF export read back with gguf's own reader: architecture, hyper-parameters, tokenizer and
every tensor's values, for a tiny Qwen2 (tied embeddings) and a tiny Llama (q/k permuted); and,
where llama-cpp-python is installed, run by llama.cpp itself against the transformers logits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")
np = pytest.importorskip("numpy")

from safetensors.numpy import load_file  # noqa: E402
from tests.tiny_models import TEMPLATE, build_tiny_qwen2, build_tokenizer  # noqa: E402

from finassist.errors import InvalidInput  # noqa: E402
from finassist.train.gguf import export_gguf  # noqa: E402

QWEN2_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "model.layers.{i}.input_layernorm.weight": "blk.{i}.attn_norm.weight",
    "model.layers.{i}.post_attention_layernorm.weight": "blk.{i}.ffn_norm.weight",
    "model.layers.{i}.self_attn.q_proj.weight": "blk.{i}.attn_q.weight",
    "model.layers.{i}.self_attn.q_proj.bias": "blk.{i}.attn_q.bias",
    "model.layers.{i}.self_attn.k_proj.weight": "blk.{i}.attn_k.weight",
    "model.layers.{i}.self_attn.k_proj.bias": "blk.{i}.attn_k.bias",
    "model.layers.{i}.self_attn.v_proj.weight": "blk.{i}.attn_v.weight",
    "model.layers.{i}.self_attn.v_proj.bias": "blk.{i}.attn_v.bias",
    "model.layers.{i}.self_attn.o_proj.weight": "blk.{i}.attn_output.weight",
    "model.layers.{i}.mlp.gate_proj.weight": "blk.{i}.ffn_gate.weight",
    "model.layers.{i}.mlp.up_proj.weight": "blk.{i}.ffn_up.weight",
    "model.layers.{i}.mlp.down_proj.weight": "blk.{i}.ffn_down.weight",
}


@pytest.fixture(scope="module")
def qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path, _ = build_tiny_qwen2(tmp_path_factory.mktemp("qwen2"))
    return path


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama 3.1-style model: untied output, grouped-query heads, llama3 rope scaling."""
    path = tmp_path_factory.mktemp("llama")
    tokenizer = build_tokenizer(path, TEMPLATE)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        rope_theta=500000.0,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 256,
        },
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():  # larger weights: attention must depend on positions to catch rope bugs
        for weight in model.parameters():
            if weight.dim() == 2:
                weight.normal_(0, 0.2)
    model.save_pretrained(path)
    return path


def fields(reader: object) -> dict[str, object]:
    return {name: field.contents() for name, field in reader.fields.items()}


def values(tensor: object) -> object:
    """A tensor read back as float32 in the Hugging Face (numpy) shape."""
    return gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)


def expected_names(blocks: int) -> dict[str, str]:
    out = {}
    for hf, name in QWEN2_NAMES.items():
        for i in range(blocks):
            out[hf.format(i=i)] = name.format(i=i)
    return out


def test_qwen2_f32_round_trips_exactly(qwen2: Path, tmp_path: Path) -> None:
    out = export_gguf(qwen2, tmp_path / "tiny-f32.gguf", "f32", name="tiny")
    reader = gguf.GGUFReader(out)
    meta = fields(reader)
    config = json.loads((qwen2 / "config.json").read_text())
    assert meta["general.architecture"] == "qwen2" and meta["general.name"] == "tiny"
    assert meta["qwen2.block_count"] == 2
    assert meta["qwen2.context_length"] == 512
    assert meta["qwen2.embedding_length"] == 32 and meta["qwen2.feed_forward_length"] == 64
    assert (meta["qwen2.attention.head_count"], meta["qwen2.attention.head_count_kv"]) == (4, 2)
    assert meta["qwen2.rope.freq_base"] == 10000.0
    assert meta["qwen2.attention.layer_norm_rms_epsilon"] == pytest.approx(1e-6)

    tokenizer_json = json.loads((qwen2 / "tokenizer.json").read_text())
    assert meta["tokenizer.ggml.model"] == "gpt2" and meta["tokenizer.ggml.pre"] == "qwen2"
    tokens = meta["tokenizer.ggml.tokens"]
    assert len(tokens) == config["vocab_size"]
    assert tokens[config["eos_token_id"]] == "<|im_end|>"
    assert len(meta["tokenizer.ggml.merges"]) == len(tokenizer_json["model"]["merges"])
    assert meta["tokenizer.ggml.eos_token_id"] == config["eos_token_id"]
    assert meta["tokenizer.ggml.padding_token_id"] == config["pad_token_id"]
    assert meta["tokenizer.ggml.token_type"][config["eos_token_id"]] == gguf.TokenType.CONTROL
    assert meta["tokenizer.chat_template"] == TEMPLATE

    weights = load_file(qwen2 / "model.safetensors")
    names = expected_names(2)
    by_name = {t.name: t for t in reader.tensors}
    assert set(by_name) == set(names.values())  # tied embeddings: no output.weight
    for hf, name in names.items():
        assert by_name[name].tensor_type == gguf.GGMLQuantizationType.F32
        assert np.array_equal(values(by_name[name]), weights[hf])


@pytest.mark.parametrize(
    ("outtype", "qtype", "tolerance"), [("f16", "F16", 1e-3), ("q8_0", "Q8_0", 1e-2)]
)
def test_qwen2_f16_and_q8_0_stay_close_and_keep_norms_in_f32(
    qwen2: Path, tmp_path: Path, outtype: str, qtype: str, tolerance: float
) -> None:
    reader = gguf.GGUFReader(export_gguf(qwen2, tmp_path / f"tiny-{outtype}.gguf", outtype))
    weights = load_file(qwen2 / "model.safetensors")
    by_name = {t.name: t for t in reader.tensors}
    for hf, name in expected_names(2).items():
        tensor, expected = by_name[name], weights[hf]
        wanted = qtype if expected.ndim == 2 else "F32"
        assert tensor.tensor_type == gguf.GGMLQuantizationType[wanted], name
        got = values(tensor)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= tolerance * max(np.abs(expected).max(), 1e-6), name
    assert fields(reader)["general.file_type"] == (1 if outtype == "f16" else 7)


def test_llama_output_matrix_permuted_heads_and_rope_factors(llama: Path, tmp_path: Path) -> None:
    reader = gguf.GGUFReader(export_gguf(llama, tmp_path / "llama.gguf", "f32"))
    meta = fields(reader)
    assert meta["general.architecture"] == "llama" and meta["tokenizer.ggml.pre"] == "llama-bpe"
    assert meta["llama.rope.dimension_count"] == 8 and meta["llama.rope.freq_base"] == 500000.0
    weights = load_file(llama / "model.safetensors")
    by_name = {t.name: t for t in reader.tensors}
    assert np.array_equal(values(by_name["output.weight"]), weights["lm_head.weight"])

    def permute(w: object, heads: int) -> object:  # llama.cpp's rope layout, by hand
        return (
            w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:])
            .swapaxes(1, 2)
            .reshape(w.shape)
        )

    q = weights["model.layers.1.self_attn.q_proj.weight"]
    k = weights["model.layers.1.self_attn.k_proj.weight"]
    assert np.array_equal(values(by_name["blk.1.attn_q.weight"]), permute(q, 4))
    assert np.array_equal(values(by_name["blk.1.attn_k.weight"]), permute(k, 2))
    assert not np.array_equal(permute(q, 4), q)
    factors = values(by_name["rope_freqs.weight"])
    # Llama 3.1 scaling: the highest frequency is kept, the lowest divided by the factor.
    assert factors.shape == (4,) and factors[0] == 1.0 and factors[-1] == 8.0


def test_unsupported_architectures_and_types_are_refused(qwen2: Path, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt_neox"}))
    with pytest.raises(InvalidInput, match="不支持模型架构 gpt_neox，目前支持：llama、qwen2"):
        export_gguf(tmp_path, tmp_path / "x.gguf")
    with pytest.raises(InvalidInput, match="可选：f32、f16、q8_0"):
        export_gguf(qwen2, tmp_path / "x.gguf", "q4_k")
    assert not list(tmp_path.glob("*.gguf*"))


@pytest.mark.parametrize(("model", "outtype"), [("qwen2", "f16"), ("llama", "f32")])
def test_llama_cpp_computes_what_transformers_computes(
    model: str, outtype: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    path = request.getfixturevalue(model)
    out = export_gguf(path, tmp_path / f"{model}.gguf", outtype)
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    reference = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    engine = llama_cpp.Llama(model_path=str(out), n_ctx=128, logits_all=True, verbose=False)
    text = "<|im_start|>user\n华东汽车近12个月的现金流怎么样？<|im_end|>\n<|im_start|>assistant\n"
    ids = tokenizer(text)["input_ids"]
    assert engine.tokenize(text.encode(), add_bos=False, special=True) == ids
    engine.eval(ids)
    got = np.asarray(engine.scores[: len(ids)])
    with torch.no_grad():
        expected = reference(torch.tensor([ids])).logits[0].numpy()
    # llama.cpp keeps its KV cache in f16: agreement to a fraction of a percent, not bit for bit.
    assert np.abs(got - expected).max() < 1e-2 * np.abs(expected).max()
