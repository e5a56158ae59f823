"""The tokenizer files of a converted model: the release's SentencePiece model, the HF files
vLLM loads it through, and a chat template.

Grok-1 is a base model with no chat format of its own. The template below is the plain
transcript format base models continue best, documented in the README:

    <system prompt>\\n\\n
    Human: <user turn>\\n\\n
    Assistant: <assistant turn>\\n\\n
    ...
    Assistant:

Send `stop: ["\\n\\nHuman:"]` with chat requests so the model does not write the next user
turn itself.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}Human: {{ message['content'] }}\n\n"
    "{% elif message['role'] == 'assistant' %}Assistant: {{ message['content'] }}\n\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)
CHAT_STOP = "\n\nHuman:"
TOKENIZER_ENV = "GROK_TOKENIZER"


def release_tokenizer_path() -> Path:
    """Where the release's tokenizer.model is expected: $GROK_TOKENIZER, else ../shared beside
    the checkout (it is not copied into the project). The file may be absent."""
    default = Path(__file__).resolve().parents[3] / "shared" / "grok-1" / "tokenizer.model"
    return Path(os.environ.get(TOKENIZER_ENV, default))


def write_tokenizer(tokenizer_model: Path, out: Path, max_length: int) -> None:
    """Write tokenizer.model, tokenizer_config.json and tokenizer.json into `out`.

    `legacy: false` keeps text after special pieces (newlines) unprefixed, as SentencePiece does;
    the fast tokenizer.json is generated once here so engines do not convert it at every start.
    """
    from transformers import AutoTokenizer

    shutil.copyfile(tokenizer_model, out / "tokenizer.model")
    tokenizer_config = {
        "tokenizer_class": "LlamaTokenizer",
        "add_bos_token": False,
        "add_eos_token": False,
        "bos_token": "[BOS]",
        "eos_token": "[EOS]",
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "legacy": False,
        "model_max_length": max_length,
        "chat_template": CHAT_TEMPLATE,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    AutoTokenizer.from_pretrained(str(out)).save_pretrained(str(out))
