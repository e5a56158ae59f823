"""Checkpoint tooling: release-format conversion, inspection, tiny test models (`grok-ckpt`)."""
