import pytest
import torch

from atlas.accent.param import Parameterization, noise_params
from atlas.accent.views import AugmentConfig, NoiseBank, draw_views


@pytest.mark.parametrize("kind", ["fourier", "maco", "pixel"])
def test_encode_decode_round_trip_on_real_photos(photos, kind):
    x = photos.clone()
    x[0, :, :16, :16] = 0.0  # pure black and white patches must not blow up
    x[1, :, :16, :16] = 1.0
    p = Parameterization(kind=kind, size=224)
    params = p.encode(x)
    assert all(torch.isfinite(v).all() for v in params.values())
    err = (p.decode(params) - x).abs().max().item()
    assert err <= 1e-4, err


def test_decay_changes_parameters_not_the_round_trip(photos):
    a = Parameterization(decay=1.0).encode(photos[:2])["spectrum"]
    b = Parameterization(decay=1.5).encode(photos[:2])["spectrum"]
    assert not torch.allclose(a, b)
    assert (Parameterization(decay=1.5).decode({"spectrum": b}) - photos[:2]).abs().max() < 1e-4


def test_decay_moves_step_size_between_frequencies_at_equal_rms():
    from atlas.accent.param import spectrum_scale

    one, smooth = spectrum_scale(64, 64, 1.0), spectrum_scale(64, 64, 1.5)
    assert torch.allclose(one.pow(2).mean(), smooth.pow(2).mean(), rtol=1e-5)
    # lowest frequencies step further, highest less: the change gets smoother, not larger
    assert smooth[0, 1] > one[0, 1] and smooth[32, 32] < one[32, 32]


def test_gradients_reach_saturated_pixels():
    img = torch.zeros(1, 3, 32, 32)
    img[..., 16:] = 1.0
    p = Parameterization(size=32)
    params = p.encode(img)
    p.decode(params).sum().backward()
    assert params["spectrum"].grad.abs().sum() > 0


def test_maco_keeps_magnitude_fixed(photos):
    p = Parameterization(kind="maco")
    params = p.encode(photos[:1])
    assert not params["magnitude"].requires_grad and params["phase"].requires_grad
    assert [k for k, v in params.items() if v.requires_grad] == ["phase"]


def test_noise_params_give_a_grey_ish_start():
    p = Parameterization(size=64)
    img = p.decode(noise_params(p, 2, seed=1))
    assert 0.4 < img.mean() < 0.6 and img.std() > 0


def test_views_are_reproducible_and_shared_by_seed_and_image():
    cfg = AugmentConfig(crops=3, min_side=0.3, max_side=0.9, noise=0.02)
    v1 = draw_views(cfg, 2, 32, torch.Generator().manual_seed(5))
    v2 = draw_views(cfg, 2, 32, torch.Generator().manual_seed(5))
    assert torch.equal(v1.theta, v2.theta) and torch.equal(v1.noise, v2.noise)
    side = v1.theta[:, 0, 0]
    assert ((side >= 0.3) & (side <= 0.9)).all()
    img = torch.rand(2, 3, 64, 64)
    out = v1.apply(img, torch.zeros_like(v1.noise))
    assert out.shape == (6, 3, 32, 32)
    # crops of the same image at the same box are equal whichever tensor they were cut from
    assert torch.equal(v1.apply(img.clone(), torch.zeros_like(v1.noise)), out)
    full = AugmentConfig(crops=1, min_side=1.0, max_side=1.0, noise=0.0)
    v = draw_views(full, 1, 64, torch.Generator().manual_seed(0))
    assert torch.allclose(v.apply(img[:1]), img[:1], atol=1e-5)  # a full box is the identity


def test_crop_boxes_stay_inside_and_follow_the_drawn_sides():
    cfg = AugmentConfig(crops=8, min_side=0.4, max_side=0.7, noise=0.0)
    v = draw_views(cfg, 3, 20, torch.Generator().manual_seed(1))
    for top, left, bottom, right in v.boxes(50, 80):
        assert 0 <= top < bottom <= 50 and 0 <= left < right <= 80
        assert 0.4 * 50 - 1 <= bottom - top <= 0.7 * 50 + 1
        assert 0.4 * 80 - 1 <= right - left <= 0.7 * 80 + 1
    img = torch.rand(3, 3, 50, 80)
    out = v.apply(img)
    top, left, bottom, right = v.boxes(50, 80)[9]  # image 1's second crop
    want = torch.nn.functional.interpolate(img[1:2, :, top:bottom, left:right], size=(20, 20),
                                           mode="bilinear", align_corners=False)
    assert torch.equal(out[9:10], want)


def test_noise_bank_windows_differ_between_image_and_seed_and_across_steps():
    gen = torch.Generator().manual_seed(3)
    bank = NoiseBank(rows=4, size=24, std=0.02, generator=gen, margin=8)
    assert abs(bank.field.std().item() - 0.02) < 0.002
    seen = set()
    for _ in range(30):
        noise, seed_noise = bank.windows(gen)
        assert noise.shape == seed_noise.shape == (4, 3, 24, 24)
        assert (noise != seed_noise).all()  # no pixel shares its noise with the seed's
        seen.add(noise.sum().item())
    assert len(seen) > 10  # steps take windows at many offsets
    again = NoiseBank(rows=4, size=24, std=0.02, generator=torch.Generator().manual_seed(3),
                      margin=8)
    assert torch.equal(again.field, bank.field)


def test_box_pool_steps_take_distinct_boxes_of_their_own_pair():
    from atlas.accent.views import BoxPool

    cfg = AugmentConfig(crops=2, min_side=0.5, max_side=1.0, noise=0.02, boxes=5)
    gen = torch.Generator().manual_seed(2)
    pool = BoxPool.draw(cfg, 3, cfg.boxes, 16, gen, gen)
    assert pool.theta.shape == (15, 2, 3) and pool.seed_noise.shape == (15, 3, 16, 16)
    used = set()
    for _ in range(20):
        views, rows = pool.pick(cfg.crops, gen, torch.zeros(6, 3, 16, 16))
        pairs = rows.view(3, 2) // 5
        assert (pairs == torch.arange(3)[:, None]).all()  # each pair's boxes are its own
        assert (rows.view(3, 2)[:, 0] != rows.view(3, 2)[:, 1]).all()  # two distinct boxes
        assert torch.equal(views.theta, pool.theta[rows])
        assert views.seed_noise is None  # the pool's seed was read once, before the steps
        used |= set(rows.tolist())
    assert used == set(range(15))  # over 20 steps every box is scored


def test_crops_are_one_resize_per_box_and_their_gradient_is_autograds():
    """All of a step's crops are one node of the graph; its forward is F.interpolate of each
    box and its backward the sum of each crop's resize gradient in its box."""
    import torch.nn.functional as F

    from atlas.accent.views import pixel_boxes

    cfg = AugmentConfig(crops=3, min_side=0.3, max_side=1.0, noise=0.0)
    views = draw_views(cfg, 2, 12, torch.Generator().manual_seed(7))
    x = torch.rand(2, 3, 20, 20, dtype=torch.float64, requires_grad=True)
    out = views.apply(x)
    boxes = pixel_boxes(views.theta, 20, 20)
    ref = torch.cat([F.interpolate(x[k // 3][None, :, top:bottom, left:right], size=(12, 12),
                                   mode="bilinear", align_corners=False)
                     for k, (top, left, bottom, right) in enumerate(boxes)])
    assert torch.equal(out, ref)
    g = torch.randn_like(out).contiguous(memory_format=torch.channels_last)
    (mine,) = torch.autograd.grad(out, x, g)
    (theirs,) = torch.autograd.grad(ref, x, g)
    assert torch.allclose(mine, theirs, atol=1e-12)
    assert torch.autograd.gradcheck(lambda t: views.apply(t), (x,))


def test_a_pool_smaller_than_a_step_holds_a_step_of_distinct_boxes():
    from atlas.accent.stream import ViewStream

    cfg = AugmentConfig(crops=4, boxes=3, noise=0.0)
    gen = torch.Generator().manual_seed(0)
    seed_reads = []

    def read(views):
        seed_reads.append(sum(len(v.theta) for v in views))
        return [torch.zeros(len(v.theta), 1, 2, 2) for v in views]

    stream = ViewStream(cfg, steps=5, n=2, size=8, generator=gen, noise_generator=gen, read=read)
    assert stream.rows == 8 and seed_reads == [8]  # 4 boxes per pair, read once
    for _ in range(5):
        step = stream.next()
        assert sorted(step.rows[:4].tolist()) == [0, 1, 2, 3]
        assert sorted(step.rows[4:].tolist()) == [4, 5, 6, 7]
    assert seed_reads == [8]
