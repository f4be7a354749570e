"""Frozen evaluation of an encoder: probe math, features and dense features."""
