"""Measurement: metrics, ``phnet-eval`` and its evaluations, picture grids, backend parity.

- ``metrics``: MSE, fMSE, PSNR, fPSNR with their conventions named.
- ``evaluate``: ``phnet-eval``: harmonisers side by side on a data set's images.
- ``temporal``: flicker on synthetic video with known motion.
- ``people``: the four measurements on a corpus's held-out real people.
- ``matte``: ``phnet-eval-matte``: the camera's person mask against reference mattes, beside
  LFBW's recipe and Robust Video Matting.
- ``grid``: picture grids of composites and outputs.
- ``parity``: ONNX Runtime against PyTorch on the camera demo's frames.
"""
