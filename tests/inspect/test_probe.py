"""The header probe: safetensors headers fed in chunks of any size, damaged headers, other formats' magic, and what
the header says about the base model, the kind of file and its trigger words."""

from __future__ import annotations

import json
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hikaze_mm.inspect.probe import MAX_SAFETENSORS_HEADER, HeaderProbe
from hikaze_mm.pipeline.hashing import hash_file

F16_BYTES = 2
Tensors = dict[str, list[int]]


def safetensors(tensors: Tensors, metadata: dict[str, Any] | None = None, with_data: bool = False) -> bytes:
    """A safetensors file: the header always, the F16 data section only when asked (the probe never reads it)."""
    header: dict[str, Any] = {}
    offset = 0
    for name, shape in tensors.items():
        size = F16_BYTES
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    if metadata is not None:
        header["__metadata__"] = metadata
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)  # writers pad the header to 8 bytes with spaces
    return struct.pack("<Q", len(raw)) + raw + (bytes(offset) if with_data else b"")


def probe(data: bytes, chunk: int | None = None) -> dict[str, Any]:
    p = HeaderProbe()
    view = memoryview(data)
    step = chunk or max(len(data), 1)
    for i in range(0, len(data), step):
        p.feed(view[i:i + step])
    result = p.finish()
    json.dumps(result, allow_nan=False)  # it is stored as JSON in SQLite
    return result


def kohya_lora_header() -> bytes:
    block = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0"
    tensors = {
        f"{block}_attn1_to_k.lora_down.weight": [32, 320],
        f"{block}_attn1_to_k.lora_up.weight": [320, 32],
        f"{block}_attn1_to_k.alpha": [],
        f"{block}_attn2_to_k.lora_down.weight": [32, 768],
        f"{block}_attn2_to_k.lora_up.weight": [320, 32],
        "lora_te_text_model_encoder_layers_0_self_attn_k_proj.lora_down.weight": [32, 768],
    }
    tags = {
        "10_mychar": {"mychar": 40, " 1girl": 38, "solo": 30, "red hair": 12, "smile": 12},
        "5_outfit": {"mychar": 10, "school uniform": 9, "1girl": 10},
    }
    metadata = {
        "ss_base_model_version": "sd_v1",
        "ss_network_dim": "32",
        "ss_network_alpha": "16.0",
        "ss_network_module": "networks.lora",
        "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors",
        "ss_tag_frequency": json.dumps(tags),
        "ss_dataset_dirs": json.dumps({"10_mychar": {"n_repeats": 10, "img_count": 40}}),
        "ss_network_args": json.dumps({"conv_dim": "8", "algo": "lora"}),
        "ss_training_comment": "[wip] not json",
        "ss_resolution": "(512, 512)",
    }
    return safetensors(tensors, metadata)


def test_kohya_lora_reads_the_same_in_any_chunk_size():
    data = kohya_lora_header()
    results = [probe(data, size) for size in (1, 7, 8, 9, 4096, None)]
    assert all(r == results[0] for r in results)
    r = results[0]
    assert r["format"] == "safetensors" and r["tensor_count"] == 6 and "error" not in r
    assert r["base_model"] == "SD 1.x" and r["base_model_source"] == "kohya"
    assert r["kind_hint"] == "lora"
    meta = r["metadata"]
    assert meta["ss_tag_frequency"]["10_mychar"]["mychar"] == 40
    assert meta["ss_dataset_dirs"] == {"10_mychar": {"n_repeats": 10, "img_count": 40}}
    assert meta["ss_network_args"] == {"conv_dim": "8", "algo": "lora"}
    assert meta["ss_network_dim"] == "32" and meta["ss_training_comment"] == "[wip] not json"
    assert meta["ss_resolution"] == "(512, 512)"
    # Training captions are not trigger words, however often they were used.
    assert "trigger_words" not in r


def test_trigger_words_come_from_the_trigger_phrase_alone():
    tags = {"1_set": {f"tag{i}": 100 - i for i in range(15)} | {"Mychar": 1000}}
    metadata = {"modelspec.trigger_phrase": " mychar , red hair,, Mychar", "ss_tag_frequency": json.dumps(tags)}
    r = probe(safetensors({"lora_unet_x.lora_down.weight": [4, 4]}, metadata))
    assert r["trigger_words"] == ["mychar", "red hair"]


def test_the_probe_stops_collecting_once_the_header_is_read():
    data = safetensors({"a": [1]}, with_data=True) + bytes(1024)
    header_end = struct.unpack_from("<Q", data)[0] + 8
    p = HeaderProbe()
    p.feed(memoryview(data)[:header_end])
    assert p.done
    p.feed(memoryview(data)[header_end:])
    assert p.finish() == probe(data)


@pytest.mark.parametrize("length", [0x80, 0x280, 0x4B50, 0x24B50])
def test_header_lengths_that_begin_like_pickle_or_zip_magic_are_still_safetensors(length: int):
    raw = json.dumps({"emb_params": {"dtype": "F16", "shape": [1, 768], "data_offsets": [0, 1536]}}).encode()
    data = header_file(raw.ljust(length))
    assert data[:1] in (b"\x80", b"P")
    assert probe(data, 4096)["kind_hint"] == "embedding"


def test_a_file_that_ends_right_after_its_header_is_fine():
    r = probe(safetensors({"a": [2, 2]}))
    assert r == {"format": "safetensors", "tensor_count": 1, "base_model": "unknown", "base_model_source": "none"}


@pytest.mark.parametrize("cut", [8, 9, 40])
def test_a_truncated_header_is_an_error_not_an_exception(cut: int):
    data = kohya_lora_header()
    r = probe(data[:cut], 3)
    assert r["format"] == "safetensors" and "header" in r["error"]
    assert "metadata" not in r


def test_a_header_declared_over_the_limit_is_refused_without_buffering_it():
    declared = 200 * 1024 * 1024
    p = HeaderProbe()
    p.feed(memoryview(struct.pack("<Q", declared) + b'{"a": {"dtype": "F16"'))
    assert p.done  # gave up at once rather than waiting for 200 MB of header
    r = p.finish()
    assert r["format"] == "safetensors" and str(declared) in r["error"] and str(MAX_SAFETENSORS_HEADER) in r["error"]


def test_a_header_length_too_short_to_hold_an_object_is_refused():
    r = probe(struct.pack("<Q", 1) + b"{}")
    assert r["format"] == "safetensors" and "too short" in r["error"]


def test_a_plausible_header_length_beyond_the_end_of_file_is_truncation():
    r = probe(struct.pack("<Q", MAX_SAFETENSORS_HEADER) + b'{"a": 1}')
    assert r["format"] == "safetensors" and "ends" in r["error"]


def header_file(raw: bytes) -> bytes:
    return struct.pack("<Q", len(raw)) + raw


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"a": {"dtype": "F16", ', "not valid JSON"),
        (b'{"a": "\xff\xfe"}', "not UTF-8"),
        (b"[1, 2, 3]", "list, not an object"),
        (b'"just a string"', "str, not an object"),
        (b'{"a": NaN}', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_a_damaged_header_gives_format_and_error(raw: bytes, says: str):
    r = probe(header_file(raw), 7)
    assert r["format"] == "safetensors" and says in r["error"]
    assert set(r) == {"format", "error"}


def test_a_metadata_map_of_the_wrong_type_keeps_what_the_tensors_say():
    r = probe(header_file(json.dumps({"__metadata__": [1], "conditioner.x": {"shape": [1]}}).encode()))
    assert r["error"] == "__metadata__ is not an object"
    assert r["tensor_count"] == 1 and r["base_model"] == "SDXL" and "metadata" not in r


def test_malformed_tensor_entries_do_not_break_detection():
    header = {"model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": {"shape": "768"},
              "junk": 5, "more": {"shape": [None]}}
    r = probe(header_file(json.dumps(header).encode()))
    assert r["base_model"] == "unknown" and r["kind_hint"] == "checkpoint" and "error" not in r


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"GGUF\x03\x00\x00\x00" + bytes(64), "gguf"),
        (b"PK\x03\x04" + bytes(64), "zip-pickle"),
        (b"\x80\x02}q\x00(X\x05\x00\x00\x00" + bytes(16), "pickle"),
        (bytes(range(200, 256)) * 4, "unknown"),  # a length word far over the limit, and no '{' after it
        (bytes(64), "unknown"),  # zero-filled, as a preallocated download leaves a file
        (b"GGUF", "gguf"),
        (b"abc", "unknown"),
        (b"", "unknown"),
    ],
)
def test_other_formats_are_named_by_their_magic(data: bytes, fmt: str):
    found = probe(data, 5)
    # What an unknown file's first 8 bytes announce is kept, for a file whose name says safetensors.
    declared = {"declared_length": struct.unpack_from("<Q", data)[0]} if fmt == "unknown" and len(data) >= 8 else {}
    assert found == {"format": fmt, **declared}


@pytest.mark.parametrize(
    ("architecture", "base"),
    [
        ("stable-diffusion-v1", "SD 1.x"),
        ("stable-diffusion-v1/lora", "SD 1.x"),
        ("stable-diffusion-v1/textual-inversion", "SD 1.x"),
        ("stable-diffusion-v2-512", "SD 2.x"),
        ("stable-diffusion-v2-768-v/lora", "SD 2.x"),
        ("stable-diffusion-xl-v1-base", "SDXL"),
        ("stable-diffusion-xl-v1-base/lora", "SDXL"),
        ("stable-diffusion-3-medium", "SD3"),
        ("stable-diffusion-3.5-large/lora", "SD3"),
        ("flux-1-dev", "Flux"),
        ("flux-1-schnell/lora", "Flux"),
        ("flux-1/lora", "Flux"),
        ("pony-diffusion-v6/lora", "Pony"),
    ],
)
def test_modelspec_architecture_names_the_base_model(architecture: str, base: str):
    meta = {"modelspec.sai_model_spec": "1.0.1", "modelspec.architecture": architecture, "modelspec.title": "x"}
    # The tensors say SD1; the ModelSpec says otherwise and is believed first.
    tensors = {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": [4, 768]}
    r = probe(safetensors(tensors, meta))
    assert (r["base_model"], r["base_model_source"]) == (base, "modelspec")


def test_an_unknown_architecture_falls_through_to_the_other_evidence():
    meta = {"modelspec.architecture": "lumina-2/lora", "ss_base_model_version": "sd_v2"}
    r = probe(safetensors({"a": [1]}, meta))
    assert (r["base_model"], r["base_model_source"]) == ("SD 2.x", "kohya")
    r = probe(safetensors({"a": [1]}, {"modelspec.architecture": "lumina-2"}))
    assert (r["base_model"], r["base_model_source"]) == ("unknown", "none")


@pytest.mark.parametrize(
    ("version", "base"),
    [("sd_v1", "SD 1.x"), ("sd_v2", "SD 2.x"), ("sdxl_base_v1-0", "SDXL"), ("sd3", "SD3"), ("flux1", "Flux")],
)
def test_kohya_base_model_version_comes_before_tensors(version: str, base: str):
    tensors = {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": [4, 1024]}
    r = probe(safetensors(tensors, {"ss_base_model_version": version}))
    assert (r["base_model"], r["base_model_source"]) == (base, "kohya")


def test_old_kohya_files_flag_sd2_with_ss_v2():
    r = probe(safetensors({"a": [1]}, {"ss_v2": "True"}))
    assert (r["base_model"], r["base_model_source"]) == ("SD 2.x", "kohya")


def test_pony_and_illustrious_come_only_from_metadata():
    sdxl = {"conditioner.embedders.1.model.ln_final.weight": [1280]}
    pony_base = {"ss_base_model_version": "sdxl_base_v1-0", "ss_sd_model_name": "ponyDiffusionV6XL_v6.safetensors"}
    assert probe(safetensors(sdxl, pony_base))["base_model"] == "Pony"
    assert probe(safetensors(sdxl, pony_base))["base_model_source"] == "kohya"
    r = probe(safetensors(sdxl, {"modelspec.architecture": "stable-diffusion-xl-v1-base",
                                 "modelspec.title": "My ILLUSTRIOUS style"}))
    assert (r["base_model"], r["base_model_source"]) == ("Illustrious", "modelspec")
    assert probe(safetensors(sdxl, {"ss_base_model_version": "Illustrious-XL"}))["base_model"] == "Illustrious"
    # Nothing in the metadata: SDXL, never a guessed fine-tune.
    assert probe(safetensors(sdxl))["base_model"] == "SDXL"
    # A "pony" title on an SD1 model is a subject, not a base model.
    sd1 = {"modelspec.architecture": "stable-diffusion-v1/lora", "modelspec.title": "My Little Pony style"}
    assert probe(safetensors({"a": [1]}, sd1))["base_model"] == "SD 1.x"
    # Pony V7 is not the SDXL-based Pony.
    assert probe(safetensors({"a": [1]}, {"ss_sd_model_name": "pony-v7-base.safetensors"}))["base_model"] == "unknown"


UNET = "model.diffusion_model."
CHECKPOINTS: list[tuple[str, Tensors, str]] = [
    ("sd1", {
        f"{UNET}input_blocks.0.0.weight": [320, 4, 3, 3],
        f"{UNET}input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": [320, 768],
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": [49408, 768],
        "first_stage_model.decoder.conv_in.weight": [512, 4, 3, 3],
    }, "SD 1.x"),
    ("sd2", {
        f"{UNET}input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": [320, 1024],
        "cond_stage_model.model.ln_final.weight": [1024],
    }, "SD 2.x"),
    ("sdxl", {
        f"{UNET}input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048],
        f"{UNET}input_blocks.4.1.transformer_blocks.1.attn2.to_k.weight": [640, 2048],
        "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight": [768],
    }, "SDXL"),
    ("sdxl-unet-only", {"input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": [640, 2048]}, "SDXL"),
    ("sd3", {
        f"{UNET}joint_blocks.0.context_block.attn.qkv.weight": [4608, 1536],
        f"{UNET}joint_blocks.0.x_block.attn.qkv.weight": [4608, 1536],
        "text_encoders.clip_l.transformer.text_model.final_layer_norm.weight": [768],
    }, "SD3"),
    ("flux", {
        "double_blocks.0.img_attn.norm.key_norm.scale": [128],
        "double_blocks.18.img_attn.qkv.weight": [9216, 3072],
        "single_blocks.37.linear1.weight": [21504, 3072],
        "guidance_in.in_layer.weight": [3072, 256],
    }, "Flux"),
    ("flux-prefixed", {f"{UNET}double_blocks.0.img_attn.norm.key_norm.scale": [128]}, "Flux"),
]


@pytest.mark.parametrize(("tensors", "base"), [c[1:] for c in CHECKPOINTS], ids=[c[0] for c in CHECKPOINTS])
def test_checkpoints_are_told_apart_by_tensor_names_and_shapes(tensors: Tensors, base: str):
    r = probe(safetensors(tensors), 13)
    assert (r["base_model"], r["base_model_source"], r["kind_hint"]) == (base, "tensors", "checkpoint")


KOHYA_SD = "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k"
LORAS: list[tuple[str, Tensors, str]] = [
    ("sd1", {f"{KOHYA_SD}.lora_down.weight": [16, 768], f"{KOHYA_SD}.lora_up.weight": [640, 16]}, "SD 1.x"),
    ("sd2", {f"{KOHYA_SD}.lora_up.weight": [640, 16], f"{KOHYA_SD}.lora_down.weight": [16, 1024]}, "SD 2.x"),
    ("sdxl-kohya-input-blocks", {
        "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight": [16, 2048],
    }, "SDXL"),
    ("sdxl-two-text-encoders", {
        "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": [16, 768],
        "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": [16, 1280],
    }, "SDXL"),
    ("sdxl-deep-blocks", {
        "lora_unet_down_blocks_2_attentions_0_transformer_blocks_5_attn1_to_q.lora_down.weight": [16, 1280],
    }, "SDXL"),
    ("sdxl-peft", {"unet.down_blocks.2.attentions.0.transformer_blocks.0.attn2.to_k.lora_A.weight": [8, 2048]},
     "SDXL"),
    ("sd3-kohya", {"lora_unet_joint_blocks_0_context_block_attn_qkv.lora_down.weight": [16, 1536]}, "SD3"),
    ("flux-kohya", {
        "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": [16, 3072],
        "lora_unet_single_blocks_37_linear1.lora_down.weight": [16, 3072],
        "lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": [16, 768],
    }, "Flux"),
    ("flux-diffusers", {
        "transformer.single_transformer_blocks.0.attn.to_k.lora_A.weight": [16, 3072],
        "transformer.transformer_blocks.0.attn.to_k.lora_A.weight": [16, 3072],
    }, "Flux"),
    ("flux-xlabs", {"double_blocks.0.processor.proj_lora1.down.weight": [16, 3072]}, "Flux"),
    ("hunyuan-video-is-not-flux", {
        "lora_unet_double_blocks_19_img_attn_qkv.lora_down.weight": [32, 3072],
        "lora_unet_single_blocks_39_linear1.lora_down.weight": [32, 3072],
    }, "unknown"),
]


@pytest.mark.parametrize(("tensors", "base"), [c[1:] for c in LORAS], ids=[c[0] for c in LORAS])
def test_loras_are_told_apart_by_tensor_names_and_shapes(tensors: Tensors, base: str):
    r = probe(safetensors(tensors), 1)
    assert (r["base_model"], r["kind_hint"]) == (base, "lora")
    assert r["base_model_source"] == ("none" if base == "unknown" else "tensors")


def test_a_flux_ip_adapter_is_not_taken_for_flux():
    r = probe(safetensors({"double_blocks.0.processor.ip_adapter_double_stream_k_proj.weight": [3072, 768]}))
    assert r["base_model"] == "unknown" and "kind_hint" not in r


@pytest.mark.parametrize(
    ("tensors", "base"),
    [({"emb_params": [4, 768]}, "SD 1.x"), ({"emb_params": [2, 1024]}, "SD 2.x"),
     ({"clip_l": [3, 768], "clip_g": [3, 1280]}, "SDXL"), ({"string_to_param.*": [1, 768]}, "SD 1.x")],
)
def test_embeddings(tensors: Tensors, base: str):
    r = probe(safetensors(tensors))
    assert (r["kind_hint"], r["base_model"], r["base_model_source"]) == ("embedding", base, "tensors")


def test_a_standalone_vae():
    r = probe(safetensors({"encoder.conv_in.weight": [128, 3, 3, 3], "decoder.conv_out.weight": [3, 128, 3, 3],
                           "quant_conv.weight": [8, 8, 1, 1]}))
    assert (r["kind_hint"], r["base_model"]) == ("vae", "unknown")


def test_a_controlnet_is_not_a_checkpoint():
    r = probe(safetensors({"input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768],
                           "input_hint_block.0.weight": [16, 3, 3, 3], "zero_convs.0.0.weight": [320, 320, 1, 1]}))
    assert r["base_model"] == "SD 1.x" and "kind_hint" not in r


def test_hash_file_carries_the_probe_result(tmp_path: Path):
    path = tmp_path / "mychar.safetensors"
    tensors = {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": [4, 768],
               "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight": [320, 4]}
    meta = {"ss_base_model_version": "sdxl_base_v1-0", "ss_sd_model_name": "illustriousXL_v01.safetensors",
            "ss_tag_frequency": json.dumps({"8_mychar": {"mychar": 3, "smile": 1}}), "ss_network_dim": "4"}
    path.write_bytes(safetensors(tensors, meta, with_data=True))
    with ThreadPoolExecutor(1) as sha:
        result = hash_file(str(path), None, sha, threading.Event())
    header = result.header
    assert header["format"] == "safetensors" and header["tensor_count"] == 2
    assert header["metadata"]["ss_tag_frequency"] == {"8_mychar": {"mychar": 3, "smile": 1}}
    assert (header["base_model"], header["base_model_source"]) == ("Illustrious", "kohya")
    assert "trigger_words" not in header and header["kind_hint"] == "lora"
