"""Saliency maps: how each map is computed from a model's features and gradients or from a view's pixels.

Every function returns per-view maps normalised to [0, 1] in float32, whatever the input's dtype. Which source uses
which function, in training and in studies, is registered in :mod:`scl.saliency.sources`.
"""
import torch
import torch.nn.functional as F

REDUCTIONS = ('mean_relu', 'l2')


def reduce_feature_map(feat, mode='mean_relu'):
    """Channel-reduce a feature map to a per-view saliency map normalised to [0, 1].

    Computed in float32 whatever the feature map's dtype (fp16 / bf16 under AMP), so mixed precision does not change
    the normalised map beyond the rounding of the features themselves.

    Shape:
        feat: (B, C, h, w) -> (B, h, w) float32
    """
    feat = feat.float()
    if mode == 'mean_relu':
        m = F.relu(feat).mean(dim=1)
    elif mode == 'l2':
        m = feat.pow(2).sum(dim=1).sqrt()
    else:
        raise ValueError(f'saliency reduction must be one of {REDUCTIONS}, got {mode!r}')
    return normalise_maps(m)


def normalise_maps(m):
    """Min-max normalise each map of a (B, h, w) batch to [0, 1] (a constant map becomes 0), in float32."""
    m = m.float()
    flat = m.flatten(1)
    lo = flat.min(dim=1).values[:, None, None]
    hi = flat.max(dim=1).values[:, None, None]
    return (m - lo) / (hi - lo).clamp_min(1e-6)


def valid_maps(maps):
    """Which maps of a (B, h, w) batch carry saliency: every value finite and not all equal (a constant map, e.g.
    from a constant image or a degenerate gradient, is all 0 after :func:`normalise_maps`).

    Shape:
        maps: (B, h, w) -> (B, ) bool
    """
    flat = maps.float().flatten(1)
    spread = flat.amax(1) - flat.amin(1)
    return torch.isfinite(flat).all(1) & (spread > 1e-6)


def contrastive_gradcam(activations, grads):
    """Contrastive Grad-CAM (ContraCAM, Mo et al. 2021) of one view from its feature map and the loss gradient.

    Channel weights ``w_k = mean_hw(-dL/dA_k)`` clamped at 0 (the channels whose increase lowers the contrastive
    loss), map ``ReLU(sum_k w_k A_k)``, min-max normalised per view; computed in float32. A uniform scale of the
    gradient (AMP's loss scale) does not change the result.

    Shape:
        activations, grads: (B, C, h, w) -> (B, h, w) float32 in [0, 1]
    """
    a, g = activations.float(), grads.float()
    weights = (-g).mean(dim=(2, 3)).clamp_min(0)  # B x C
    return normalise_maps(F.relu(torch.einsum('bc,bchw->bhw', weights, a)))


def spectral_residual(images, out_size=16, sigma=0.02):
    """Spectral-residual saliency (Hou & Zhang, CVPR 2007) of each image, from its pixels alone.

    The grey image (channel mean; an affine change of the intensities, such as the preprocessor's normalisation,
    changes only the zero frequency) is Fourier transformed; its log amplitude minus the 3 x 3 box average of the log
    amplitude (the spectral residual) is recombined with the phase, ``|ifft|^2`` smoothed with a Gaussian of
    ``sigma`` times the side, area-pooled to ``out_size x out_size`` and min-max normalised per image. Computed in
    float32. ``sigma = 0.02`` and ``out_size = 16`` (the store's grid) localised best of the values tried on the
    scene benchmark's validation scenes (docs/method.md).

    Shape:
        images: (B, C, H, W) -> (B, out_size, out_size) float32 in [0, 1]
    """
    grey = images.float().mean(dim=1)  # B x H x W
    H, W = grey.shape[-2:]
    spectrum = torch.fft.fft2(grey)
    log_amp = torch.log(spectrum.abs().clamp_min(1e-8))
    # Box average with the border replicated (cv2.blur's reflect-101 border differs only on the outermost rows).
    smooth = F.avg_pool2d(F.pad(log_amp[:, None], (1, 1, 1, 1), mode='replicate'), 3, stride=1)[:, 0]
    sal = torch.fft.ifft2(torch.exp(log_amp - smooth) * torch.exp(1j * torch.angle(spectrum))).abs().pow(2)
    radius = max(1, int(round(3 * sigma * max(H, W))))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=grey.device)
    kernel = torch.exp(-x**2 / (2 * (sigma * max(H, W))**2))
    kernel = kernel / kernel.sum()
    sal = F.pad(sal[:, None], (radius, radius, radius, radius), mode='reflect')
    sal = F.conv2d(F.conv2d(sal, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))
    return normalise_maps(F.adaptive_avg_pool2d(sal, out_size)[:, 0])


def dense_contrast(fmap, keys, mlp, queue, temperature, negatives=None, chunk=4096):
    """Per location ``l``: ``log softmax`` of ``z_l . k / T`` over ``[k, queue]``, with ``z_l`` the projection MLP
    applied at ``l`` (its linear layers as 1 x 1 convolutions; L2-normalised) and ``k`` the view's key; min-max
    normalised per view. The queue is scored in chunks of ``chunk`` entries (a running log-sum-exp), so memory stays
    at ``B x h x w x chunk``; ``negatives`` keeps that many evenly strided entries instead of the whole queue.

    Shape:
        fmap: (B, C, h, w); keys: (B, D) normalised; queue: (D, K) -> (B, h, w) float32 in [0, 1]
    """
    z = F.normalize(mlp(fmap.permute(0, 2, 3, 1)).float(), dim=-1)  # B x h x w x D
    pos = torch.einsum('bhwd,bd->bhw', z, keys.float()) / temperature
    queue = queue.detach().float()
    if negatives is not None and negatives < queue.shape[1]:
        queue = queue[:, ::queue.shape[1] // negatives][:, :negatives]
    lse = pos
    for s in range(0, queue.shape[1], chunk):
        neg = torch.einsum('bhwd,dk->bhwk', z, queue[:, s:s + chunk]) / temperature
        lse = torch.logaddexp(lse, torch.logsumexp(neg, dim=-1))
    return normalise_maps(pos - lse)


def whole_image_gradcam(model, x):
    """Contrastive Grad-CAM of each image's InfoNCE loss (its query against its own key and the queue)."""
    with torch.no_grad():
        keys = F.normalize(model.encoder_k.module[1](model.encoder_k.module[0](x))[0], dim=1)
    with torch.enable_grad():
        feats = model.backbone(x)
        act = feats[-1]
        q = F.normalize(model.neck(feats)[0], dim=1)
        logits = torch.cat([(q * keys).sum(1, keepdim=True), q @ model.queue.detach()], dim=1)
        loss = F.cross_entropy(logits / model.head.temperature,
                               torch.zeros(len(x), dtype=torch.long, device=x.device),
                               reduction='sum')  # per-image gradients, independent of the batch
        grad, = torch.autograd.grad(loss, act)
    return contrastive_gradcam(act.detach(), grad)


def contracam(model, x, iters=1):
    """ContraCAM (Mo et al. 2021) of a batch of normalised images on the query backbone's last feature map.

    Each round scores every image's projection ``q`` by ``q . k - logsumexp_j(q . n_j)`` (temperature 1, as ContraCAM),
    with ``k`` the projection of the unedited image and ``n_j`` the projections of the *other* images of the batch in
    every round so far, and takes its contrastive Grad-CAM (:func:`contrastive_gradcam`),
    upsampled to the input. After each round the union (element-wise max) of the maps so far is painted over the
    image with the batch's mean colour, so the next round looks for what else identifies it. Weights are untouched.

    Returns:
        torch.Tensor: ``B x H x W`` union in [0, 1] at the input's resolution.
    """
    if len(x) < 2:
        raise ValueError('contracam scores each image against the other images of the batch: pass at least 2')
    if iters < 1:
        raise ValueError(f'contracam needs at least one round, got iters={iters}')

    def project(inp):
        feats = model.backbone(inp)
        return feats[-1], F.normalize(model.neck(feats)[0], dim=1)

    with torch.no_grad():
        _, key = project(x)
    colour = x.mean(dim=(0, 2, 3), keepdim=True)
    own = torch.eye(len(x), dtype=torch.bool, device=x.device)
    seen, union, inp = [], None, x
    for _ in range(iters):
        with torch.enable_grad():
            act, q = project(inp)
            seen.append(q.detach())
            neg = torch.cat([(q @ n.T).masked_fill(own, float('-inf')) for n in seen], dim=1)
            score = (q * key).sum(1) - torch.logsumexp(neg, dim=1)
            grad, = torch.autograd.grad(-score.sum(), act)  # the gradient of the loss -score
        cam = contrastive_gradcam(act.detach(), grad)
        cam = F.interpolate(cam[:, None], size=x.shape[-2:], mode='bilinear', align_corners=False)
        union = cam[:, 0] if union is None else torch.maximum(union, cam[:, 0])
        inp = x * (1 - union[:, None]) + colour * union[:, None]
    return union.clamp(0, 1)
