"""Ray Serve applications for Grok-1, built on `ray.serve.llm`.

`spec.py` is the one typed source of truth; `render.py` writes the YAML files beside this one
from it (`python -m deployments.render`), and `app.py` is the builder those files import.
"""
