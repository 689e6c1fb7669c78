from dataclasses import replace

import pytest
import torch

from atlas.accent.loop import accentuate, measure, to_input, visualize
from atlas.accent.masks import normalize_masks
from atlas.accent.objectives import LatentDistance, Target
from atlas.config.accent import AccentConfig, AugmentConfig
from atlas.config.fields import check
from atlas.errors import AtlasError
from atlas.models.hooks import Probe
from tests.helpers.stages import run_args

FAST = dict(steps=6, lr=0.15, canvas=96, augment=AugmentConfig(crops=2), reg_layer="_blocks.2",
            schedule="constant")


@pytest.fixture(scope="module")
def run(lite0_96):
    """The regularization layer and view size a command would resolve for FAST on ``lite0_96``."""
    return run_args(lite0_96, AccentConfig(**FAST), "_blocks.10")


def test_accentuation_raises_target_and_stays_close(lite0_96, photos, run):
    units = torch.tensor([3, 3, 17, 40])
    # 12 steps: pair 0 starts far below zero, where 6 steps raise the mean over random crops
    # (the trajectory) but not yet the activation on the whole image
    cfg = AccentConfig(**{**FAST, "steps": 12})
    res = accentuate(lite0_96, photos[:4], Target("_blocks.10", units), cfg, **run)
    assert res.images.shape == (4, 3, 96, 96) and res.masks.shape == (4, 96, 96)
    assert (res.final_activation > res.seed_activation).all()
    assert (res.trajectory[:, -1] > res.trajectory[:, 0]).all()
    assert (res.latent_distance > 0).all() and (res.latent_distance < 1.0).all()
    assert res.trajectory.shape == (4, 12) and (res.masks >= 0).all() and res.masks.sum() > 0


def test_reported_numbers_are_the_seed_and_the_result_measured_alone(lite0_96, photos, run):
    """The seed and the accentuation are measured in one pass after the steps; each pair's
    numbers are what measuring its seed, and its result, on their own gives."""
    units = torch.tensor([3, 17])
    target = Target("_blocks.10", units)
    res = accentuate(lite0_96, photos[:2], target, AccentConfig(**FAST), **run)
    seeds = to_input(photos[:2], 96)
    seed_act, a_seed = measure(lite0_96, seeds, target, run["reg_layer"])
    final_act, a_final = measure(lite0_96, res.images, target, run["reg_layer"])
    assert torch.allclose(res.seed_activation, seed_act, rtol=1e-4, atol=1e-5)
    assert torch.allclose(res.final_activation, final_act, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(res.final_activation, res.seed_activation)
    dist = (a_final - a_seed).flatten(1).norm(dim=1) / a_seed.flatten(1).norm(dim=1)
    assert torch.allclose(res.latent_distance, dist, rtol=1e-4, atol=1e-6)


def test_a_pair_does_not_depend_on_the_rest_of_its_batch(lite0_96, photos, run):
    """Pairs optimized together stay independent: the first pair's result is the same whoever
    shares its batch (a batch of one draws other views, so equal-sized batches are compared;
    the differences allowed are float rounding, which Adam's step amplifies)."""
    cfg = AccentConfig(**FAST)
    a = accentuate(lite0_96, photos[:2], Target("_blocks.10", torch.tensor([5, 9])), cfg, **run)
    b = accentuate(lite0_96, photos[[0, 5]], Target("_blocks.10", torch.tensor([5, 40])), cfg,
                   **run)
    moved = (a.images[0] - to_input(photos[:1], 96)[0]).abs().mean()
    diff = (a.images[0] - b.images[0]).abs()
    assert moved > 0.01 and diff.mean() < 0.01 * moved and diff.max() < 0.01
    assert torch.allclose(a.trajectory[0], b.trajectory[0], rtol=1e-3, atol=1e-3)
    assert torch.allclose(a.seed_activation[0], b.seed_activation[0], atol=1e-4)
    assert not torch.allclose(a.images[1], b.images[1], atol=0.05)  # the partners differ


def test_attribution_steps_do_not_change_the_optimization(lite0_96, photos, run):
    """On attribution steps the two loss terms go through the shallow part separately and are
    combined at the canvas; the update must equal the one-pass update of the other steps."""
    target = Target("_blocks.10", torch.tensor([5, 9]))
    # summed (not view-averaged) maps, so the number of attribution samples shows in the sum
    every = accentuate(lite0_96, photos[:2], target,
                       AccentConfig(**FAST, mask="gradient", mask_every=1, mask_coverage=False),
                       **run)
    once = accentuate(lite0_96, photos[:2], target,
                      AccentConfig(**FAST, mask="gradient", mask_every=1000, mask_coverage=False),
                      **run)
    moved = (once.images - to_input(photos[:2], 96)).abs().mean()
    diff = (every.images - once.images).abs()  # float rounding, which Adam's step amplifies
    assert diff.mean() < 0.01 * moved and diff.max() < 0.01
    assert torch.allclose(every.trajectory, once.trajectory, rtol=1e-3, atol=1e-2)
    assert every.masks.sum() > 2 * once.masks.sum() > 0  # 6 attribution samples against 1


def test_change_mask_is_the_smoothed_change_and_needs_no_attribution_steps(lite0_96, photos, run):
    """``mask = "change"`` is |accentuation - seed| smoothed at the target's grid; it takes no
    attribution pass after step 0, so the result does not depend on ``mask_every``, and the
    mask never steers the optimization."""
    from atlas.accent.masks import gaussian_blur

    target = Target("_blocks.10", torch.tensor([5, 9]))
    cfg = AccentConfig(**FAST, mask="change", mask_smooth=1.0)
    res = accentuate(lite0_96, photos[:2], target, cfg, **run)
    change = (res.images - to_input(photos[:2], 96)).abs().sum(1)
    with torch.inference_mode():  # one cell of the target's grid, as the views see it
        grid = Probe(lite0_96, ["_blocks.10"])(to_input(photos[:1], run["view_px"]))["_blocks.10"]
    assert torch.allclose(res.masks, gaussian_blur(change, 96 / grid.shape[-1]), atol=1e-5)
    other = accentuate(lite0_96, photos[:2], target, replace(cfg, mask_every=1), **run)
    assert torch.equal(other.masks, res.masks) and torch.equal(other.images, res.images)
    grad = accentuate(lite0_96, photos[:2], target, replace(cfg, mask="gradient"), **run)
    assert torch.allclose(grad.images, res.images, atol=0.01)
    assert not torch.allclose(grad.masks, res.masks)


def test_layer_mask_comes_from_the_deep_pass_without_attribution_steps(lite0_96, photos, run):
    """``mask = "layer"`` (the default) is |d target / d A| at the regularization layer, taken
    from every step's deep pass: like the change mask it needs no attribution pass after step
    0, so neither the images nor the mask depend on ``mask_every``, and it differs from the
    pixel gradient's mask."""
    target = Target("_blocks.10", torch.tensor([5, 9]))
    cfg = AccentConfig(**FAST, mask_smooth=0.0)
    assert cfg.mask == "layer"
    res = accentuate(lite0_96, photos[:2], target, cfg, **run)
    other = accentuate(lite0_96, photos[:2], target, replace(cfg, mask_every=1), **run)
    assert torch.equal(other.masks, res.masks) and torch.equal(other.images, res.images)
    change = accentuate(lite0_96, photos[:2], target, replace(cfg, mask="change"), **run)
    assert torch.equal(change.images, res.images)  # the same passes: the mask never steers
    grad = accentuate(lite0_96, photos[:2], target, replace(cfg, mask="gradient"), **run)
    assert not torch.allclose(grad.masks, res.masks)
    assert (res.masks >= 0).all() and (res.masks.flatten(1).std(1) > 0).all()


def test_box_maps_sum_per_box_and_paste_each_into_its_box_once():
    from atlas.accent.masks import BoxMaps

    boxes = [(0, 0, 4, 4), (2, 4, 8, 8), (0, 0, 8, 8), (4, 4, 8, 8)]  # rows 0-3
    sums = BoxMaps(rows=4, pairs=2)
    # one view per pair per step: pair 0 scores row 0 then row 2, pair 1 row 1 twice
    sums.add(torch.tensor([0, 1]), torch.stack([torch.ones(2, 2), 2 * torch.ones(2, 2)]))
    sums.add(torch.tensor([2, 1]), torch.stack([3 * torch.ones(2, 2), torch.ones(2, 2)]))
    canvas, seen = torch.zeros(2, 8, 8), torch.zeros(2, 8, 8)
    sums.paste(canvas, seen, boxes)
    assert torch.equal(canvas[0, :4, :4], 4 * torch.ones(4, 4)) and canvas[0].sum() == 16 + 3 * 64
    assert torch.equal(canvas[1, 2:, 4:], 3 * torch.ones(6, 4)) and canvas[1].sum() == 72
    assert torch.equal(seen[1, 2:, 4:], 2 * torch.ones(6, 4)) and seen[1].sum() == 48
    # row 3 was never scored: nothing of it is pasted
    assert seen[0].sum() == 16 + 64


def test_seed_pass_over_several_steps_changes_nothing(lite0_96, photos, run, monkeypatch):
    """The seed's reference pass runs on several steps' views at once (drawn ahead, in the same
    order): the result is the one of a pass per step, up to the pass's rounding."""
    from atlas.accent import stream

    target = Target("_blocks.10", torch.tensor([5, 9]))
    cfg = AccentConfig(**{**FAST, "augment": AugmentConfig(crops=2, boxes=0)})
    batched = accentuate(lite0_96, photos[:2], target, cfg, **run)
    monkeypatch.setattr(stream, "SEED_VIEWS", 1)
    per_step = accentuate(lite0_96, photos[:2], target, cfg, **run)
    moved = (per_step.images - to_input(photos[:2], 96)).abs().mean()
    assert (batched.images - per_step.images).abs().mean() < 0.01 * moved
    assert torch.allclose(batched.trajectory, per_step.trajectory, rtol=1e-2, atol=1e-2)


def test_seed_pass_precision_follows_amp_and_hardware():
    from atlas.accent.loop import reference_precision
    from atlas.models.runtime import cpu_has_bf16

    cpu = torch.device("cpu")
    assert reference_precision(AccentConfig(amp=False), cpu) == "float32"
    expected = "bfloat16" if cpu_has_bf16() else "float32"
    assert reference_precision(AccentConfig(), cpu) == expected
    assert reference_precision(AccentConfig(), torch.device("cuda")) == "bfloat16"


def test_lambda_pulls_toward_the_seed(lite0_96, photos, run):
    t = Target("_blocks.10", torch.tensor([7, 7]))
    loose = accentuate(lite0_96, photos[:2], t, AccentConfig(**FAST, lam=0.0), **run)
    tight = accentuate(lite0_96, photos[:2], t, AccentConfig(**FAST, lam=20.0), **run)
    assert tight.latent_distance.mean() < loose.latent_distance.mean()
    assert loose.final_activation.mean() > tight.final_activation.mean()


def test_frames_and_visualization(lite0_96, run):
    cfg = AccentConfig(**{**FAST, "steps": 4}, frames=3)
    res = visualize(lite0_96, Target("_blocks.10", torch.tensor([1, 2])), cfg, **run)
    assert len(res.frames) == 3 and res.frames[0].shape == (2, 3, 128, 128)
    assert (res.final_activation > res.seed_activation).all()


def test_reg_layer_after_target_is_an_error(lite0_96, photos, run):
    cfg = AccentConfig(**{**FAST, "reg_layer": "_blocks.12"})
    with pytest.raises(AtlasError, match="'_blocks.12' does not run before"):
        accentuate(lite0_96, photos[:1], Target("_blocks.10", torch.tensor([0])), cfg,
                   **{**run, "reg_layer": "_blocks.12"})


def test_normalize_masks_shares_one_scale():
    m = torch.stack([torch.full((4, 4), 1.0), torch.full((4, 4), 2.0), torch.full((4, 4), 4.0)])
    m[:, 0, 0] = 0.0
    out = normalize_masks(m, floor=0.0)  # floors at 0; the scale is the median peak (2)
    assert torch.allclose(out[0, 1:, 1:], torch.full((3, 3), 0.5))  # the 1s at half the 2s
    assert out[1].max() == 1.0 and out[2].max() == 1.0 and out[2, 0, 0] == 0  # 4s clip
    ramp = torch.arange(48.0).view(3, 4, 4)
    weak = torch.stack([ramp[0] * 0.5, ramp[1] - 16, ramp[2] - 32])  # half the contrast
    out = normalize_masks(weak, q=1.0)  # each from its own median, one shared scale
    assert out[0, 0, 0] == 0 and out[1, 0, 0] == 0 and out[1, -1, -1] == 1
    assert (out[0] > 0).sum() == (out[1] > 0).sum() == 8  # each shows its own top half
    assert torch.allclose(out[0], out[1] * 0.5, atol=1e-3)  # the weaker stays dimmer


def test_latent_distance_is_nonsquared_mean_over_positions():
    a0 = torch.zeros(2, 3, 2, 2)
    a = a0.clone()
    a[0, :, 0, 0] = torch.tensor([3.0, 4.0, 0.0])  # one position at distance 5
    d = LatentDistance("x")(a, a0, pairs=2)
    assert torch.allclose(d, torch.tensor([5 / 4, 0.0]), atol=1e-5)


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (4, 7, 6), (4, 9)])
def test_latent_distance_gradient_is_autograds(shape):
    """The loop takes the regularizer's gradient in closed form: maps, tokens and vectors."""
    a = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    a0 = torch.randn(shape, dtype=torch.float64)
    reg = LatentDistance("x")
    (auto,) = torch.autograd.grad(reg(a, a0, pairs=2).sum(), a)
    assert torch.allclose(reg.grad(a.detach(), a0, pairs=2), auto, atol=1e-12)


def test_first_step_sets_the_parameters_gradient_of_both_terms():
    """Step 0 balances the terms from their parameter gradients and then sets the parameters'
    gradient from those: the gradient a pass of the combined pixel gradient gives."""
    from atlas.accent.loop import _pixel_backward, parameterization

    torch.manual_seed(0)
    p = parameterization(AccentConfig(canvas=16))
    params = p.encode(torch.rand(2, 3, 16, 16))
    trainable = p.trainable(params)

    def graph():
        x = p.decode(params)
        return x, x.pow(2) * 3 + x  # a stand-in for the shallow part

    g_leaf, g_reg = torch.randn(2, 3, 16, 16), torch.randn(2, 3, 16, 16)
    x, a = graph()
    _, beta = _pixel_backward(x, a, g_leaf, g_reg, 0.3, torch.ones(2), trainable, True)
    mine = [t.grad.clone() for t in trainable]
    for t in trainable:
        t.grad = None
    x, a = graph()
    (g_x,) = torch.autograd.grad(a, x, g_leaf, retain_graph=True)
    (g_xr,) = torch.autograd.grad(a, x, g_reg)
    x.backward(-g_x + (0.3 * beta).view(-1, 1, 1, 1) * g_xr)
    assert beta.shape == (2,) and (beta > 0).all()
    for m, t in zip(mine, trainable, strict=True):
        assert torch.allclose(m, t.grad, rtol=1e-4, atol=1e-6)


def test_config_validation():
    with pytest.raises(AtlasError, match="accent.param must be one of"):
        check(AccentConfig(param="wavelet"))
    with pytest.raises(AtlasError, match="augment.crops"):
        check(AccentConfig(augment=AugmentConfig(crops=0)))


def test_views_are_counted_per_image_and_box():
    from atlas.accent.masks import count_views

    seen = torch.zeros(2, 6, 6)
    count_views(seen, [(0, 0, 6, 6), (1, 1, 3, 3), (2, 2, 4, 6), (2, 2, 4, 6)])
    assert seen[0].sum() == 36 + 4 and seen[0, 1, 1] == 2 and seen[0, 5, 5] == 1
    assert seen[1].sum() == 2 * 8 and seen[1, 2, 5] == 2 and seen[1, 0, 0] == 0


def test_active_focus_weights_firing_positions_and_falls_back_when_silent():
    a = torch.zeros(2, 1, 2, 2)
    a[0, 0] = torch.tensor([[3.0, 1.0], [-1.0, -1.0]])  # fires on average: weights 3/4, 1/4
    a[1, 0] = torch.tensor([[1.0, -2.0], [-2.0, -2.0]])  # mean < 0: uniform weights
    t = Target("x", torch.tensor([0, 0]))
    value = t.objective({"x": a}, "active")
    assert torch.allclose(value, torch.tensor([3 * 0.75 + 1 * 0.25, -5 / 4]))
    assert torch.allclose(t.objective({"x": a}, "all"), t({"x": a}))


def test_coverage_mean_shrinks_rarely_seen_pixels_toward_the_image_mean():
    from atlas.accent.masks import coverage_mean

    seen = torch.full((1, 2, 2), 10.0)
    seen[0, 0, 0] = 0.0  # never seen: no evidence of its own
    sums = seen * 2.0  # every view gave 2 where seen
    sums[0, 1, 1] = 10 * 5.0  # one well-seen pixel averaging 5
    out = coverage_mean(sums, seen)
    mean = float(sums.sum() / seen.sum())
    assert abs(float(out[0, 0, 0]) - mean) < 1e-6
    assert 4.0 < float(out[0, 1, 1]) < 5.0 and abs(float(out[0, 0, 1]) - 2.0) < 0.3

