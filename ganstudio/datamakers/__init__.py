"""Data makers: deterministic, seeded generators of labelled training data for GAN Studio's own models.

Each module has a plain function API and a ``make_*`` folder writer; ``python -m ganstudio.datamakers``
is the command line. See :mod:`ganstudio.datamakers.__main__`.
"""
