import pytest
import torch

from edgesnn.models import PRESETS, build_model, preset
from edgesnn.models.attention import Attention
from edgesnn.models.blocks import SEWBlock
from tests.conftest import tiny_config


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("width", [1.0, 0.125])
def test_every_preset_builds_and_classifies(name, width):
    cfg = preset(name, width=width, T=1 if width == 1.0 else 2, attention="C")
    model = build_model(cfg).eval()
    with torch.no_grad():
        out = model(torch.rand(2, cfg.in_channels, *cfg.input_size))
    assert out.shape == (2, cfg.num_classes)
    assert torch.isfinite(out).all()


def test_full_width_mnist_matches_table_ix_layer_counts():
    model = build_model(preset("mnist"))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(convs) == 20 and len(fcs) == 1  # "ResNet21": 17 backbone convs + 3 shortcuts + FC
    assert [c.out_channels for c in convs[:5]] == [64] * 5
    assert sum(p.numel() for p in model.parameters()) == 11_172_810


@pytest.mark.parametrize(
    ("position", "ma_count"), [("a", 1 + 2 * 2), ("b", 1 + 2 * 2), ("c", 1 + 1 * 2), ("d", 1 + 1 * 2)]
)
def test_attention_positions_follow_table_v(position, ma_count):
    # tiny config: 2 feature convs (one pair) and 2 stages
    model = build_model(tiny_config(attention="T", attention_position=position))
    atts = [(n, m) for n, m in model.named_modules() if isinstance(m, Attention)]
    ma = [n for n, m in atts if m.kind.value == "MA"]
    ia = [n for n, m in atts if m.kind.value == "IA"]
    assert len(ma) == ma_count
    assert ia == ["stages.0.block.shortcut.attention", "stages.1.block.shortcut.attention"]
    first = position in ("a", "c")
    assert ("stages.0.block.backbone.0.attention" in ma) == first
    assert ("stages.0.block.backbone.1.attention" in ma) == (not first)


@pytest.mark.parametrize("parts", ["MA", "IA"])
def test_ablations_keep_only_one_part(parts):
    model = build_model(tiny_config(attention="C", attention_parts=parts))
    kinds = {m.kind.value for m in model.modules() if isinstance(m, Attention)}
    assert kinds == {parts}


@pytest.mark.parametrize(
    ("block", "connect"),
    [("sew", c) for c in ("ADD", "AND", "IAND", "OR")] + [("vanilla", "OR"), ("ms", "OR")],
)
def test_baselines_build_and_run(block, connect):
    model = build_model(tiny_config(block=block, connect=connect)).eval()
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)


def test_each_branch_runs_once_and_or_output_is_binary():
    model = build_model(tiny_config(attention="C", ia_gate_init=3.0)).eval()
    calls: dict[str, int] = {}
    outputs = []

    def count(name):
        def hook(m, i, o):
            calls[name] = calls.get(name, 0) + 1

        return hook

    for name, m in model.named_modules():
        if name.endswith(("backbone", "shortcut")):
            m.register_forward_hook(count(name))
        if isinstance(m, SEWBlock):
            m.register_forward_hook(lambda m, i, o: outputs.append(o))
    with torch.no_grad():
        model(torch.rand(2, 1, 28, 28))
    assert set(calls.values()) == {1} and len(calls) == 4
    for o in outputs:
        assert set(o.unique().tolist()) <= {0.0, 1.0}


def test_static_input_equals_the_image_repeated_over_time():
    cfg = tiny_config(T=3)
    model = build_model(cfg).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        a = model.forward_steps(x)
        b = model.forward_steps(x.unsqueeze(0).expand(3, -1, -1, -1, -1))
    assert torch.allclose(a, b, atol=1e-6)


def test_wrong_input_shape_is_named():
    model = build_model(tiny_config())
    with pytest.raises(ValueError, match="channels"):
        model(torch.rand(2, 3, 28, 28))
