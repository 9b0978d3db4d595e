"""The image players of the MNIST GAN: the hand-written LSTM equals torch's LSTMCell."""
from __future__ import annotations

import torch

from players import ColumnLSTMGenerator, ConvDiscriminator, init_params


def test_column_lstm_equals_torch_lstm_cell_fed_z_at_every_step():
    torch.manual_seed(0)
    net = ColumnLSTMGenerator(latent_size=5, hidden=7, rows=4, columns=6)
    init_params(net, torch.Generator().manual_seed(1), dtype=torch.float64)
    cell = torch.nn.LSTMCell(5, 7).double()
    with torch.no_grad():  # same gate order (i, f, g, o); our one bias plays bias_ih + bias_hh
        cell.weight_ih.copy_(net.x_proj.weight)
        cell.bias_ih.copy_(net.x_proj.bias)
        cell.weight_hh.copy_(net.h_proj.weight)
        cell.bias_hh.zero_()
    z = torch.randn(3, 5, dtype=torch.float64)
    h = c = torch.zeros(3, 7, dtype=torch.float64)
    columns = []
    for _ in range(6):
        h, c = cell(z, (h, c))
        columns.append(torch.tanh(net.out(h)))
    expected = torch.stack(columns, dim=2).unsqueeze(1)  # (batch, 1, rows, columns)
    out = net(z)
    assert out.shape == (3, 1, 4, 6)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


def test_column_lstm_forget_bias_is_one_and_init_follows_the_generator():
    net = ColumnLSTMGenerator(4, 8)
    a = init_params(net, torch.Generator().manual_seed(3))
    b = init_params(net, torch.Generator().manual_seed(3))
    assert torch.equal(a["x_proj.bias"][8:16], torch.ones(8))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    c = init_params(net, torch.Generator().manual_seed(4))
    assert not torch.equal(a["h_proj.weight"], c["h_proj.weight"])


def test_conv_discriminator_gives_one_logit_per_image_and_is_differentiable_twice():
    net = ConvDiscriminator(channels=4)
    params = init_params(net, torch.Generator().manual_seed(0))
    assert set(params) == {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias"}
    params = {k: v.requires_grad_() for k, v in params.items()}
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    logits = torch.func.functional_call(net, params, (x,))
    assert logits.shape == (2, 1)
    # unrolling differentiates the discriminator's parameter gradient w.r.t. its input
    grads = torch.autograd.grad(logits.sum(), list(params.values()), create_graph=True)
    (mixed,) = torch.autograd.grad(sum(g.square().sum() for g in grads), x)
    assert torch.isfinite(mixed).all() and mixed.abs().sum() > 0
