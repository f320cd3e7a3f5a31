"""The benchmark harness: `python -m bench [--quick|--smoke]` (or `make bench`) measures
tokenrelay beside a plain Starlette baseline and vercel's resumable-stream; see README.md."""
