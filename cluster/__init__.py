"""Running Grok-1's Ray clusters: start nodes, deploy the Serve config, inspect placement.

The same commands run a real multi-node cluster (one node per host, default ports) and the
local simulation the tests use (several nodes on one host, each with its own port range).
"""
