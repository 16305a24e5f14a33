"""fraudstream: the ``fraudstream`` console command, on top of every other package."""
