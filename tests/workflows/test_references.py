"""Finding a workflow's model references, in-process: widget values by position and by name, subgraphs inside
subgraphs (and one that holds itself), links skipped, `<lora:...>` texts, A1111's settings line, and the caps."""

from __future__ import annotations

import json

import pytest
from workflow_fixtures import api_node, lora_payload, png, rgthree_widgets, subgraph, ui_node, ui_workflow

from hikaze_mm.workflows import a1111
from hikaze_mm.workflows.documents import read
from hikaze_mm.workflows.errors import WorkflowError
from hikaze_mm.workflows.references import MAX_REFERENCES, api_references, lora_tag_names, ui_references


def places(refs) -> list[tuple[str, str, int | None, str]]:
    return [(r.node_id, r.widget, r.entry, r.name) for r in refs]


def test_nested_subgraphs_number_their_nodes_outer_to_inner_and_a_loop_is_not_followed():
    inner, outer = "11111111-0000-0000-0000-000000000001", "22222222-0000-0000-0000-000000000002"
    workflow = ui_workflow(
        [ui_node(3, outer, [])],
        [subgraph(outer, [ui_node(7, inner, []), ui_node(8, "VAELoader", ["ae.safetensors"])]),
         subgraph(inner, [ui_node(9, "UNETLoader", ["flux.safetensors", "default"]), ui_node(10, outer, [])])])
    assert places(ui_references(workflow)) == [("3:7:9", "unet_name", None, "flux.safetensors"),
                                               ("3:8", "vae_name", None, "ae.safetensors")]


def test_widget_values_by_name_and_the_second_widget_of_checkpoint_loader():
    workflow = ui_workflow([
        ui_node(1, "CheckpointLoader", ["v1-inference.yaml", "sd15.safetensors"]),
        ui_node(2, "DualCLIPLoader", {"clip_name1": "clip_l.safetensors", "clip_name2": "t5.safetensors",
                                      "type": "flux"}),
        ui_node(3, "LoraLoader", ["None", 1, 1]),
        ui_node(4, "KSampler", [42, "randomize", 20]),
    ])
    assert places(ui_references(workflow)) == [("1", "ckpt_name", None, "sd15.safetensors"),
                                               ("2", "clip_name1", None, "clip_l.safetensors"),
                                               ("2", "clip_name2", None, "t5.safetensors")]


def test_api_links_are_not_names_and_rgthree_rows_keep_their_input_names():
    prompt = {"1": api_node("LoraLoaderModelOnly", {"lora_name": ["9", 0], "model": ["2", 0]}),
              "2": api_node("Power Lora Loader (rgthree)", {"lora_3": {"on": False, "lora": "a.safetensors"}})}
    assert places(api_references(prompt)) == [("2", "lora_3", None, "a.safetensors")]
    ui = ui_workflow([ui_node(5, "Power Lora Loader (rgthree)", rgthree_widgets("a.safetensors", "b.safetensors"))])
    assert places(ui_references(ui)) == [("5", "lora_1", None, "a.safetensors"), ("5", "lora_2", None, "b.safetensors")]


def test_hikaze_payloads_of_every_accepted_shape_and_a_broken_one():
    rows = [{"name": "", "full_path": "/m/loras/a.safetensors", "sha256": "AB" * 32}, {"on": True, "lora": "b"}]
    workflow = ui_workflow([
        ui_node(1, "HikazeLoraPowerLoader", [json.dumps({"LoRAs": rows})]),
        ui_node(2, "HikazeLoraPowerLoader", [json.dumps(rows)]),
        ui_node(3, "HikazeLoraPowerLoader", ["{not json"]),
        ui_node(4, "HikazeLoraPowerLoader", [lora_payload(), "<lora:x:1> text <lora:y>"]),
    ])
    refs = ui_references(workflow)
    assert places(refs) == [("1", "hikaze_payload", 1, "/m/loras/a.safetensors"), ("1", "hikaze_payload", 2, "b"),
                            ("2", "hikaze_payload", 1, "/m/loras/a.safetensors"), ("2", "hikaze_payload", 2, "b"),
                            ("4", "lora_text", 1, "x"), ("4", "lora_text", 2, "y")]
    assert refs[0].sha256 == "ab" * 32 and refs[0].full_path == "/m/loras/a.safetensors"


@pytest.mark.parametrize(("text", "names"), [
    ("<lora:a:0.8>", ["a"]), ("<lora:a:0.8:0.5>", ["a"]), ("<LORA:b>", ["b"]), ("<lora:c:d:1>", ["c:d"]),
    ("<lora: spaced name :.5>", ["spaced name"]), ("<lora:风格/画风:1>", ["风格/画风"]), ("<lora::1>", []),
    ("<lora:x:1><lora:y:-0.5>", ["x", "y"]),
])
def test_lora_tags(text: str, names: list[str]):
    assert lora_tag_names(text) == names


def test_a1111_settings_keep_quoted_commas_and_json_and_take_only_comparable_hashes():
    text = ('<lora:a:1>\nNegative prompt: x\nSteps: 20, Model: m, Model hash: 0123456789, '
            'Lora hashes: "a: abcdef123456, b: fedcba9876", Hashes: {"lora:a": "aaaaaaaaaa", "x": "y, z"}, '
            'Version: v1')
    refs = a1111.references(text)
    assert [(r.widget, r.name, r.autov2) for r in refs] == [("Model", "m", "0123456789"), ("lora", "a", "aaaaaaaaaa"),
                                                            ("lora", "b", "fedcba9876")]


def test_too_many_references_is_refused_not_cut():
    workflow = ui_workflow([ui_node(i, "VAELoader", ["ae.safetensors"]) for i in range(MAX_REFERENCES + 1)])
    with pytest.raises(WorkflowError, match="more than"):
        read(json.dumps(workflow).encode(), "application/json").references()


def test_an_image_s_a1111_hashes_join_only_the_workflow_references_of_their_name():
    dream, detail = "d" * 10, "e" * 10
    workflow = ui_workflow([ui_node(1, "CheckpointLoaderSimple", ["sd/dreamshaper_8.safetensors"]),
                            ui_node(2, "CheckpointLoaderSimple", ["refiner.safetensors"]),
                            ui_node(3, "LoraLoader", ["detail.safetensors", 1, 1])])
    text = f'x\nSteps: 1, Model: dreamshaper_8, Model hash: {dream}, Hashes: {{"lora:detail": "{detail}"}}'

    refs = read(png({"workflow": json.dumps(workflow), "parameters": text}), "image/png").references()
    assert [(r.node_id, r.autov2) for r in refs] == [("1", dream), ("2", None), ("3", detail)]
