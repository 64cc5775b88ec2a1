"""Triples for training and evaluation: (composite, mask, real) from data sets, photos or a corpus.

- ``base``: ``DataConfig``, the items every data set returns, reading images, the base class.
- ``build``: ``build_dataset``, the data set of the kind a ``DataConfig`` names.
- ``iharmony4``, ``ffhqh``: the published data sets in their own layouts.
- ``photos``: triples made on the fly from a folder of photos.
- ``corpus``, ``mix``: the four kinds of triples from a ``phnet-corpus`` folder, and their mix.
- ``synthesis``, ``augment``: drawn masks and composites; the paper's colour augmentations.
- ``make_ffhqh``: ``phnet-make-ffhqh``, photo-folder triples written in FFHQH's layout.
"""
