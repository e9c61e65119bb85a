"""Video input for Video-LLaVA: uniform frame sampling (PyAV, optionally decord) and Video-LLaVA's processors."""
