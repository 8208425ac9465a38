"""The agent engine: state layout, compiled kernels, parameters and setup."""
