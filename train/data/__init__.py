"""Triples for training and evaluation: (composite, mask, real) from data sets, photos or a corpus.

- ``datasets``: ``DataConfig``, ``build_dataset``, iHarmony4, FFHQH and photo-folder data sets.
- ``corpus``: the four kinds of triples from a ``phnet-corpus`` folder.
- ``synthesis``, ``augment``: drawn masks and composites; the paper's colour augmentations.
- ``make_ffhqh``: ``phnet-make-ffhqh``, FFHQH-style triples written to a folder.
"""
