"""The embedded default model: a tiny random Grok-1, made and converted on first use.

It goes through exactly the production path (release-format pickles, `grok-ckpt convert`,
the int8 checkpoint loaded by the plugin), just small enough for any CPU. Creation is guarded
by a file lock so that concurrent starts build it once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import shutil
from pathlib import Path

from model_ext.ckpt.convert import convert_release, verify_model_dir
from model_ext.ckpt.tiny import OVERRIDES_FILE, make_tiny
from model_ext.ckpt.tokenizer_files import TOKENIZER_ENV, release_tokenizer_path

logger = logging.getLogger("ray.serve")

# Bump when what make_tiny/convert produce changes, so stale cached models are rebuilt.
RECIPE = "grok-tiny-v1 seed={seed}"
RECIPE_FILE = ".grok-tiny-recipe"


def release_tokenizer() -> Path:
    """The release tokenizer, which the tiny model is converted with; a clear error if absent."""
    path = release_tokenizer_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"the release tokenizer is not at {path}; set {TOKENIZER_ENV} to its tokenizer.model"
        )
    return path


def ensure_tiny_model(model_dir: Path, seed: int = 0) -> Path:
    """Return `model_dir`, creating the converted tiny model there first if it is not complete."""
    model_dir = model_dir.expanduser().resolve()
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(model_dir.parent / f".{model_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        recipe = model_dir / RECIPE_FILE
        wanted = RECIPE.format(seed=seed)
        if recipe.exists() and recipe.read_text() == wanted and not verify_model_dir(model_dir):
            return model_dir
        logger.info("making the tiny Grok-1 model in %s (first use)", model_dir)
        release = model_dir.parent / f"{model_dir.name}-release"
        shutil.rmtree(release, ignore_errors=True)
        shutil.rmtree(model_dir, ignore_errors=True)
        make_tiny(release, seed=seed)
        overrides = json.loads((release / OVERRIDES_FILE).read_text())
        convert_release(release, model_dir, release_tokenizer(), overrides, progress=False)
        shutil.rmtree(release)
        recipe.write_text(wanted)
        logger.info("tiny Grok-1 model ready in %s", model_dir)
    return model_dir
