"""The training corpus: licensed offline pictures of people, objects and scenes, with their masks.

Everything ``phnet-corpus`` runs; nothing here imports :mod:`train.data` or the trainer.

- ``build``: ``phnet-corpus``: writes the corpus folder and its ``MANIFEST.tsv``, fixes splits.
- ``scenes``, ``people``, ``objects``: the sources of scenes, real people and real objects.
- ``fetch``, ``rcc``, ``hdri``: Debian/PyPI packages, Qt ``.rcc`` bundles, HDRI panoramas.
- ``matting``, ``selfie``: person mattes with RVM; person masks with the selfie segmenter.
- ``object_masks``, ``faces``: object masks (GrabCut), face boxes (Haar).
- ``photo``: one picture from a source, before it is written.
- ``manifest``: the manifest's columns and reader (what :mod:`train.data` reads), and
  ``hash_fraction``, the hash that places pictures in splits that never move.
"""
