"""`grok eval`: Grok-1's published evaluations, run against any deployment.

lm-evaluation-harness (the `eval` extra) does the evaluating through its OpenAI-compatible
completions backend; this package picks the tasks and data, checks what the user supplies,
scores toxicity honestly, and prints the results beside the published figures.
"""
