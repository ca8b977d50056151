"""Renderers for plans, journals and drill reports."""
