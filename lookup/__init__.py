"""lookup: nearest-neighbour lookup of learned embeddings, measured honestly.

The library never imports Hydra; `bench/` is the Hydra app on top of it.
"""

__version__ = "0.1.0"
