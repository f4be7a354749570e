"""The demo's experiments: arms compared with the real entrypoints on generated videos, over seeds."""
