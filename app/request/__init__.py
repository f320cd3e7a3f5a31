"""The HTTP request body, validated for the edge (a 400 naming the defect before anything is
published) and read back by the worker: calls, their tool parameters and tool turns."""
