"""Evaluation of the scene benchmark's runs: the frozen linear probe on the labelled objects (all labels, 1 % and
10 %), the anchors it is read against (random initialisation, supervised), and saliency localisation on held-out
scenes (each source of the model, the run's own store, uniform = 1.0, a centre prior)."""
import os
import os.path as osp

from scl.saliency import source_names

# The model's own training sources, scored by the localisation study of every run.
SOURCES = source_names(training=True, reads=('backbone', 'moco'))


def run_model_config(arm_config, work_dir):
    """The config a run trained with, as mmengine dumped it into its work dir (``<work_dir>/<config name>.py``, every
    override included). Never the arm's config in its place: a figure must come from the model that was trained.

    Raises:
        ConfigError: The work dir holds no such file.
    """
    from scl.utils.errors import ConfigError
    dumped = osp.join(work_dir, osp.basename(arm_config))
    if not osp.isfile(dumped):
        raise ConfigError(f'the run\'s own config {dumped} (mmengine writes it when training starts) does not exist: '
                          'the run cannot be scored as it was trained; pretrain it again (delete its work dir)')
    return dumped


def view_size(cfg, path):
    """The pretraining view size a config declares (``view_size``), which the evaluation resizes to."""
    from scl.utils.errors import ConfigError
    if 'view_size' not in cfg:
        raise ConfigError(f'{path} declares no view_size (the pretraining view side the evaluation resizes to)')
    return cfg.view_size


class Evaluator:
    """Loads the labelled objects and the held-out scenes once and scores models on them.

    Args:
        data (str): A build_scene_dataset directory.
        preset (dict): The benchmark preset (probe size, epochs, low-shot fractions, localisation scenes).
        grid (int): Side of the saliency grid the localisation is scored on.
        split (str): ``'val'``: the benchmark's test data (probe tested on cls/test, localisation on the held-out val
            scenes, the store on every pretraining scene). ``'train-holdout'``: validation data carved out of the
            training data, for choosing settings: the probe is fitted on cls/train minus its last sixth and tested
            on that sixth, localisation and store are scored on the last pretraining scenes. The test data is never
            read.
    """

    def __init__(self, data, preset, grid=8, split='val'):
        from scl.evaluation import centre_prior, held_out_scenes, mean_localisation, scene_masks
        from scl.evaluation.linear_probe import load_split
        self.data, self.preset, self.grid, self.split = data, preset, grid, split
        self.train = load_split(data, 'train')
        if split == 'val':
            self.test = load_split(data, 'test')
        else:
            k = len(self.train[1]) // 6
            self.train, self.test = (self.train[0][:-k], self.train[1][:-k]), (self.train[0][-k:], self.train[1][-k:])
        ann, self.val_names, self.val_images = held_out_scenes(data, split, preset['localisation_scenes'])
        masks = scene_masks(ann, grid)
        self.val_fractions = [masks[n] for n in self.val_names]
        self.centre_prior = mean_localisation([centre_prior(grid)] * len(self.val_names), self.val_fractions)
        # the store exists for the pretraining scenes only
        self.train_ann = osp.join(data, 'scenes', 'annotations', 'instances_train.json')
        self.train_names = sorted(n for n in os.listdir(osp.join(data, 'scenes', 'train')) if n.endswith('.png'))
        self.store_names = self.train_names if split == 'val' else self.val_names

    def probe(self, model, seed=0):
        """Frozen linear probe: ``linear_top1`` (all labels), ``top1_<p>pct`` for the preset's low-shot fractions."""
        from scl.evaluation.linear_probe import frozen_probe
        p = self.preset
        res = frozen_probe(model, self.train, self.test, p['probe_size'], p['low_shot'], p['low_shot_draws'],
                           p['probe_epochs'], seed)
        out = dict(linear_top1=res['top1'], n_train=res['n_train'], probe_size=p['probe_size'])
        for pct in p['low_shot']:
            out[f'top1_{pct:g}pct'] = res[f'top1_{pct:g}pct']
            out[f'n_{pct:g}pct'] = res[f'n_{pct:g}pct']
        return out

    def localisation(self, model, size, sources=SOURCES, keep_maps=0):
        """``{localisation_<source>: ratio}`` on the held-out val scenes, plus the first ``keep_maps`` maps of each
        source under ``maps`` (for pictures)."""
        from scl.evaluation import mean_localisation, source_maps
        out, maps = {}, {}
        for source in sources:
            m = source_maps(model, self.val_images, size, self.grid, source)
            out[f'localisation_{source}'] = mean_localisation(m, self.val_fractions)
            maps[source] = m[:keep_maps]
        if keep_maps:
            out['maps'] = maps
        return out

    def store_localisation(self, checkpoint):
        """Localisation of an SCL checkpoint's saliency store (a checkpoint read with ``torch.load``) on the
        pretraining scenes (None without a store)."""
        from scl.evaluation import store_localisation
        store = checkpoint.get('saliency_store')
        if store is None:
            return None
        return store_localisation(store, self.train_ann, self.store_names, self.train_names)

    def evaluate_checkpoint(self, config, checkpoint, own_source='', seed=0, keep_maps=0):
        """Every figure of one pretraining checkpoint, built with the method's own model and loaded strictly."""
        from mmengine.config import Config

        from scl.utils.checkpoint import load_model, read_checkpoint
        cfg = Config.fromfile(config)
        state = read_checkpoint(checkpoint)  # read once: the weights and SCL's store
        model = load_model(cfg, state)
        res = self.probe(model, seed)
        sources = SOURCES + ((own_source, ) if own_source and own_source not in SOURCES else ())
        res.update(self.localisation(model, view_size(cfg, config), sources, keep_maps=keep_maps))
        if own_source:
            res['localisation'] = res[f'localisation_{own_source}']
        store = self.store_localisation(state)
        if store is not None:
            res['localisation_store'] = store
        return res

    def random_init(self, config, seed):
        """The anchor every pretraining figure is read against: the same model, randomly initialised (``seed``)."""
        from mmengine.config import Config

        from scl.utils.checkpoint import load_model
        cfg = Config.fromfile(config)
        model = load_model(cfg, None, seed)
        res = self.probe(model, seed)
        res.update(self.localisation(model, view_size(cfg, config)))
        return res

    def supervised(self, config, seed, iters=None):
        """The upper anchor: the same backbone trained with every label for ``iters`` SGD steps (batch 32, lr 0.03,
        cosine; the preset's pretraining budget) from random initialisation, then probed like the others."""
        from mmengine.config import Config

        from scl.evaluation.linear_probe import train_supervised
        from scl.utils.checkpoint import load_model
        cfg = Config.fromfile(config)
        model = load_model(cfg, None, seed)
        iters = iters or self.preset['supervised_iters']
        loss = train_supervised(model, self.train[0], self.train[1], self.preset['probe_size'], iters, seed=seed)
        res = self.probe(model, seed)
        res.update(supervised_iters=iters, supervised_final_loss=loss)
        return res
