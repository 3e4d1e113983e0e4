"""The reward server (``assay serve``): ``app.build_app(config)`` and the micro-batcher it uses.
Import ``assay.serve.app`` for the FastAPI app; this package itself imports nothing heavy."""
