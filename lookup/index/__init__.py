"""ANN backends behind the Index protocol (:mod:`lookup.protocols`), listed in
:mod:`lookup.registry`. Each backend file holds only its library's quirks; what they share is
:mod:`lookup.index.base`. Importing this package imports no backend library.
"""
