"""The worker's agents and timers, one module each; `register(worker)` attaches one to a worker."""
