"""The bundled models of PHNet Camera, installed as the package ``phnet_camera_models``.

This folder is ``models/`` in the repository and package data once installed: the PHNet ``lite``
checkpoint (``phnet-lite.safetensors``) and its streaming ONNX graph (``phnet-lite.onnx``), and
MediaPipe's selfie segmentation model. ``phnet.bundled.models_dir()`` finds it; see README.md
here for what each file is and how it was made.
"""
