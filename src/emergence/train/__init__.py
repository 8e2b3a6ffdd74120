"""Training stage: the engine (jitted data-parallel steps), the optimizer and its schedule,
and the loop that trains one model of the grid with exact resume (`loop.train`). The code a
run's checkpoints depend on is found from the import graph (emergence.sources)."""
