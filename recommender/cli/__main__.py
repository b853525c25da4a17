"""``python -m recommender.cli``: the same as the ``eai`` console script."""

from recommender.cli import console_main

if __name__ == "__main__":
    console_main()
