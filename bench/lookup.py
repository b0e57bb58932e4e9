"""`python -m bench.lookup`: the former name of `python -m bench.query` (same arguments)."""

from bench.query import main

if __name__ == "__main__":
    main()
